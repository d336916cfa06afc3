/** Models and plain runs shared by the serving tests: every datatype onnxruntime-node feeds, as identity models and feeds at the edges of each range. */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../src/io/codec.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { float16Bits, toHalf } from '../src/tensors/float16.js';
import type { Feeds } from './serve-client.js';
import { tempDir } from './helpers.js';

export const allTypes: Array<[DT, string]> = [
  [DT.BOOL, 'bool'], [DT.INT8, 'int8'], [DT.INT16, 'int16'], [DT.INT32, 'int32'], [DT.INT64, 'int64'],
  [DT.UINT8, 'uint8'], [DT.UINT16, 'uint16'], [DT.UINT32, 'uint32'], [DT.UINT64, 'uint64'],
  [DT.FLOAT16, 'float16'], [DT.FLOAT, 'float32'], [DT.DOUBLE, 'float64'], [DT.STRING, 'string'],
];

/** in_TYPE [batch, 2] -> out_TYPE, the same (Identity), for each of `types` (default: every datatype onnxruntime-node feeds). */
export function identityModel(types = allTypes): Uint8Array {
  return encodeModel(
    makeModel(
      makeGraph({
        name: 'types',
        inputs: types.map(([dt, type]) => makeValueInfo(`in_${type}`, dt, ['batch', 2])),
        outputs: types.map(([dt, type]) => makeValueInfo(`out_${type}`, dt, ['batch', 2])),
        nodes: types.map(([, type]) => makeNode('Identity', [`in_${type}`], [`out_${type}`])),
      }),
      { opset: 13 },
    ),
  );
}

/** Two rows of each type, with the values at the edges of each range. */
export function typeFeeds(): Feeds {
  const half = (values: number[]): ort.Tensor => new ort.Tensor('float16', Uint16Array.from(values, toHalf), [2, 2]);
  return {
    in_bool: new ort.Tensor('bool', Uint8Array.from([1, 0, 0, 1]), [2, 2]),
    in_int8: new ort.Tensor('int8', Int8Array.from([-128, 127, 0, -1]), [2, 2]),
    in_int16: new ort.Tensor('int16', Int16Array.from([-32768, 32767, 1, -1]), [2, 2]),
    in_int32: new ort.Tensor('int32', Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 5, -5]), [2, 2]),
    in_int64: new ort.Tensor('int64', BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -7n]), [2, 2]),
    in_uint8: new ort.Tensor('uint8', Uint8Array.from([0, 255, 1, 2]), [2, 2]),
    in_uint16: new ort.Tensor('uint16', Uint16Array.from([0, 65535, 3, 4]), [2, 2]),
    in_uint32: new ort.Tensor('uint32', Uint32Array.from([0, 2 ** 32 - 1, 5, 6]), [2, 2]),
    in_uint64: new ort.Tensor('uint64', BigUint64Array.from([0n, 2n ** 64n - 1n, 2n ** 53n + 1n, 8n]), [2, 2]),
    in_float16: half([0.5, -2, 65504, 0.0999755859375]),
    in_float32: new ort.Tensor('float32', Float32Array.from([0.1, -3.4028234663852886e38, 1e-40, 2]), [2, 2]),
    in_float64: new ort.Tensor('float64', Float64Array.from([0.1, -1.7e308, 5e-324, Math.PI]), [2, 2]),
    in_string: new ort.Tensor('string', ['a', 'é ü', '', '日本'], [2, 2]),
  };
}

export const valuesOf = (tensor: ort.Tensor): unknown[] => (tensor.type === 'float16' ? Array.from(float16Bits(tensor.data as Uint16Array)) : Array.from(tensor.data as ArrayLike<unknown>));

/** What a plain onnxruntime-node session of `model` answers. */
export async function plainRun(model: string, feeds: Feeds): Promise<Feeds> {
  const session = await ort.InferenceSession.create(model);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** Writes `model` into a fresh folder as NAME.onnx; returns its path and a remover. */
export function modelFile(name: string, bytes: Uint8Array): { file: string; remove: () => void } {
  const dir = tempDir();
  const file = path.join(dir, `${name}.onnx`);
  writeFileSync(file, bytes);
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
