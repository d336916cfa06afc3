import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { readdirSync, rmSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { saveModel } from '../src/io/files.js';
import { encodeModel } from '../src/io/codec.js';
import { asOrtInputs } from '../src/tensors/ort-tensor.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { tempDir } from './helpers.js';

/**
 * CPU devices share their weights through a file in the temporary folder (runtime/shared-weights): these check
 * that every element type comes through it bit for bit, and that the file never outlives the sessions' start.
 */

const weightFiles = (): string[] => readdirSync(os.tmpdir()).filter((name) => name.startsWith(`onnx-parallelize-weights-${process.pid}-`));

/** float16, float32 and int64 initializers of several KiB (shared), and a small one (left in the model). */
function mixedModel() {
  const width = 512;
  // float16 bit patterns: signs and exponents mixed, no NaN or infinity (exponent bits never all set).
  const half = Uint16Array.from({ length: width }, (_, i) => ((i % 2) << 15) | ((8 + (i % 16)) << 10) | ((i * 37) % 1024));
  const matrix = new Float32Array(width * 16).map((_, i) => Math.sin(i) / 8);
  const table = BigInt64Array.from({ length: 1024 }, (_, i) => BigInt(i * 7919 - 3_000_000));
  const graph = makeGraph({
    name: 'mixed',
    inputs: [makeValueInfo('x', DT.FLOAT16, ['batch', width]), makeValueInfo('idx', DT.INT64, ['batch', 4])],
    outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 16]), makeValueInfo('picked', DT.INT64, ['batch', 4])],
    initializers: [
      makeTensor('bias16', DT.FLOAT16, [width], half),
      makeTensor('matrix', DT.FLOAT, [width, 16], matrix),
      makeTensor('table', DT.INT64, [1024], table),
      makeTensor('small', DT.FLOAT, [16], new Float32Array(16).fill(0.25)),
    ],
    nodes: [
      makeNode('Add', ['x', 'bias16'], ['shifted']),
      makeNode('Cast', ['shifted'], ['wide'], { to: DT.FLOAT }),
      makeNode('MatMul', ['wide', 'matrix'], ['product']),
      makeNode('Add', ['product', 'small'], ['y']),
      makeNode('Gather', ['table', 'idx'], ['picked']),
    ],
  });
  return makeModel(graph, { opset: 13 });
}

function feeds(batch: number): Record<string, ort.Tensor> {
  const x = Uint16Array.from({ length: batch * 512 }, (_, i) => ((i % 3 === 0 ? 1 : 0) << 15) | ((10 + (i % 8)) << 10) | ((i * 13) % 1024));
  const idx = BigInt64Array.from({ length: batch * 4 }, (_, i) => BigInt((i * 31) % 1024));
  return { x: new ort.Tensor('float16', x, [batch, 512]), idx: new ort.Tensor('int64', idx, [batch, 4]) };
}

test('cpu devices sharing their weights give a plain session\'s outputs bit for bit: float16, float32 and int64 initializers, from a file and from bytes', async () => {
  const folder = tempDir();
  try {
    const file = path.join(folder, 'mixed.onnx');
    const model = mixedModel();
    await saveModel(model, file);
    const plain = await ort.InferenceSession.create(file);
    for (const source of [file, encodeModel(model)]) {
      for (const devices of [['cpu', 'cpu'], ['cpu', 'cpu', 'cpu']]) {
        const session = await ParallelSession.create(source, { devices });
        assert.deepEqual(weightFiles(), [], 'the weights file is deleted once the sessions are made');
        try {
          for (const batch of [1, 7]) {
            const expected = await plain.run(asOrtInputs(feeds(batch)));
            const got = await session.run(feeds(batch));
            for (const name of ['y', 'picked']) {
              assert.deepEqual(got[name]!.dims, expected[name]!.dims);
              assert.deepEqual(got[name]!.data, expected[name]!.data, `${devices.join(',')}, batch ${batch}: ${name}`);
            }
          }
        } finally {
          await session.release();
        }
      }
    }
    await plain.release();
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('a failed start leaves no weights file behind', async () => {
  const folder = tempDir();
  try {
    const file = path.join(folder, 'mixed.onnx');
    await saveModel(mixedModel(), file);
    // cuda:99 fails after planning, once the weights file is written: refused as a missing GPU where GPUs can be
    // listed, else when its device starts, after the cpu devices have made their sessions over the shared weights.
    await assert.rejects(ParallelSession.create(file, { devices: ['cpu', 'cpu', 'cuda:99'] }), /cuda:99/);
    assert.deepEqual(weightFiles(), []);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
