/**
 * A sample of the ONNX conformance models (one in fifteen of those whose inputs and outputs share a batch dim)
 * through devices on onnxruntime's C API: on one device, bit for bit what onnxruntime-node's own session gives
 * on the test's inputs; on two devices, for the models whose rewrite reproduces their reference, the same
 * outputs within --verify's tolerances. Models onnxruntime cannot run, or that ParallelSession refuses, are
 * counted and left out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/io/codec.js';
import { createSession } from '../src/runtime/session/session-source.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { conformanceCases, runConformanceCase, type ConformanceCase } from './conformance-harness.js';
import { assertIdentical, assertSame, type Feeds } from './session-helpers.js';


/** The feeds, axes and combine modes of a case, as the conformance harness rewrites it. */
function setUp(c: ConformanceCase): { feeds: Feeds; axes: Record<string, number | null>; combine: Record<string, 'first'> } {
  const graph = c.model.graph!;
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const inputs = graph.input.filter((i) => !initializers.has(i.name));
  const feeds: Feeds = {};
  const axes: Record<string, number | null> = {};
  inputs.forEach((info, i) => {
    feeds[info.name] = c.inputs[i]!;
    axes[info.name] = c.batchedInputs[i] ? 0 : null;
  });
  const combine: Record<string, 'first'> = {};
  graph.output.forEach((info, i) => (c.batchedOutputs[i] ? (axes[info.name] = 0) : (combine[info.name] = 'first')));
  return { feeds, axes, combine };
}

test('a sample of the conformance models on one device gives onnxruntime-node\'s outputs bit for bit, and on two the same within tolerance', async () => {
  const sample = conformanceCases().filter((_, k) => k % 15 === 0);
  const counts = { identical: 0, twoDevices: 0, notRunnable: 0, refused: 0 };
  for (const c of sample) {
    const { feeds, axes, combine } = setUp(c);
    let expected: Feeds;
    try {
      const plain = await createSession(c.model, { intraOpNumThreads: 1, logSeverityLevel: 4 });
      expected = await plain.run(feeds as Record<string, ort.Tensor>);
      await plain.release();
    } catch {
      counts.notRunnable++;
      continue;
    }
    const model = encodeModel(c.model);
    let one: ParallelSession;
    try {
      one = await ParallelSession.create(model, { devices: ['cpu'], axes, combine, sessionOptions: { logSeverityLevel: 4 } });
    } catch {
      counts.refused++;
      continue;
    }
    try {
      assertIdentical(await one.run(feeds), expected, `${c.name} on one device`);
      counts.identical++;
    } finally {
      await one.release();
    }
    if ((await runConformanceCase(c, 2)).outcome !== 'pass') continue;
    const two = await ParallelSession.create(model, { devices: ['cpu', 'cpu'], axes, combine, minRowsPerDevice: 1, sessionOptions: { logSeverityLevel: 4 } });
    try {
      assertSame(await two.run(feeds), expected, `${c.name} on two devices`);
      counts.twoDevices++;
    } finally {
      await two.release();
    }
  }
  console.log(`conformance sample of ${sample.length}: ${JSON.stringify(counts)}`);
  assert.ok(counts.identical >= sample.length * 0.8, `only ${counts.identical} of ${sample.length} ran`);
  assert.ok(counts.twoDevices >= sample.length * 0.6, `only ${counts.twoDevices} of ${sample.length} ran split over two devices`);
});
