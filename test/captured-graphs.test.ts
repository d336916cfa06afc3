/**
 * The runs of a device that captures CUDA graphs go through buffers kept per shape of inputs (a captured graph
 * replays on the buffers it was captured with). The same mechanism on a CPU session, with onnxruntime's CPU
 * memory standing for the GPU's: every run gives onnxruntime-node's outputs bit for bit, each shape keeps its own
 * buffers, runs that share them go one at a time, and outputs land in the caller's arrays or in new values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { OrtSession } from '../src/runtime/onnxruntime/session.js';
import { createSessionOptions, releaseSessionOptions } from '../src/runtime/onnxruntime/session-options.js';
import { RunOptions } from '../src/runtime/onnxruntime/run-options.js';
import { readTensor, releaseValue, tensorShape, tensorValue } from '../src/runtime/onnxruntime/values.js';
import { CapturedGraphs, type GraphInput } from '../src/runtime/session/captured-graphs.js';
import { hostCopier } from '../src/runtime/memory/device-copier.js';
import { ortApi } from '../src/runtime/onnxruntime/library.js';
import { check, Out } from '../src/runtime/onnxruntime/status.js';
import { fixture } from './helpers.js';
import { bytesOf, feedsFor } from './session-helpers.js';

async function cpuSession(file: string): Promise<OrtSession> {
  const options = createSessionOptions({ intraOpNumThreads: 1 });
  try {
    return await OrtSession.create({ path: file }, options);
  } finally {
    releaseSessionOptions(options);
  }
}

const inputsOf = (feeds: Record<string, ort.Tensor>, names: readonly string[]): GraphInput[] =>
  names.map((name) => ({ type: feeds[name]!.type, dims: [...feeds[name]!.dims], data: feeds[name]!.data as ArrayBufferView }));

async function run(graphs: CapturedGraphs, inputs: GraphInput[], places: Array<ArrayBufferView | 'device' | undefined> = []) {
  const options = new RunOptions();
  try {
    return await graphs.run(inputs, places, options);
  } finally {
    options.release();
  }
}

test('runs through buffers kept per shape give the plain session\'s outputs, one at a time, shape after shape', async () => {
  const plain = await ort.InferenceSession.create(fixture('mlp'), { intraOpNumThreads: 1 });
  const session = await cpuSession(fixture('mlp'));
  const feedNames = session.inputs.map((i) => i.name);
  const fetchNames = session.outputs.map((o) => o.name);
  const graphs = new CapturedGraphs(session, { kind: 'cpu' }, hostCopier, feedNames, fetchNames);
  try {
    const batches = [3, 5, 3, 5, 3, 1, 5, 1];
    const requests = await Promise.all(batches.map((batch, k) => feedsFor('mlp', batch, 20 + k)));
    // All at once: they share each shape's buffers, so they must not overlap.
    const results = await Promise.all(requests.map((feeds) => run(graphs, inputsOf(feeds, feedNames))));
    assert.equal(graphs.shapes, 3, 'one set of buffers per shape (batch 1, 3 and 5)');
    for (const [k, feeds] of requests.entries()) {
      const expected = await plain.run(feeds);
      fetchNames.forEach((name, j) => {
        const output = results[k]!.outputs[j]!;
        assert.deepEqual(output.dims, [...expected[name]!.dims], `request ${k} '${name}': dims`);
        assert.ok(bytesOf(output.data).equals(bytesOf(expected[name]!.data)), `request ${k} '${name}': the bytes differ`);
      });
    }
    // Into the caller's array, and into a new value of the device's memory.
    const feeds = requests[1]!;
    const expected = await plain.run(feeds);
    const first = expected[fetchNames[0]!]!;
    const into = new Float32Array(first.data.length);
    const places: Array<ArrayBufferView | 'device' | undefined> = fetchNames.map((_, j) => (j === 0 ? into : 'device'));
    const { outputs } = await run(graphs, inputsOf(feeds, feedNames), places);
    assert.equal(outputs[0]!.data, into, 'written into the array given');
    assert.ok(bytesOf(into).equals(bytesOf(first.data)));
    for (const [j, output] of outputs.entries()) {
      if (j === 0) continue;
      const { value } = output.data as { value: number };
      const shape = tensorShape(value);
      assert.ok(bytesOf(readTensor(value, shape)).equals(bytesOf(expected[fetchNames[j]!]!.data)), `output ${j} in a new value`);
      releaseValue(value);
    }
    // An input given as the address of a value in the device's memory is copied from there.
    const name = feedNames[0]!;
    const held = tensorValue(feeds[name]!.type, [...feeds[name]!.dims], feeds[name]!.data as ArrayBufferView);
    try {
      const api = ortApi();
      const address = new Out();
      check(api, api.GetTensorMutableData(held.handle, address.cell));
      const byAddress = inputsOf(feeds, feedNames).map((input, i) => (i === 0 ? { ...input, data: { address: address.value } } : input));
      const again = await run(graphs, byAddress);
      assert.ok(bytesOf(again.outputs[0]!.data).equals(bytesOf(first.data)), 'from an address');
    } finally {
      releaseValue(held.handle);
    }
  } finally {
    await graphs.release();
    await session.release();
    await plain.release();
  }
  await assert.rejects(run(graphs, []), /the session was released/);
});
