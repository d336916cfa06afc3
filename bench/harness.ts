/** Shared pieces of the benchmarks: child-process timing, medians, the large generated model. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TensorProto_DataType } from '../src/onnx.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { saveModel } from '../src/io/files.js';
import { SeededRandom } from '../src/tensors/random.js';

export const benchOut = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/out');

export interface ChildMeasure {
  wallMs: number;
  maxRssBytes: number;
}

/** Runs `node script args` in a fresh process; the script prints its peak RSS (bytes) as its last line. */
export function measureNode(script: string, args: string[]): ChildMeasure {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${script} failed: ${result.stderr}`);
  const lines = result.stdout.trim().split('\n');
  return { wallMs, maxRssBytes: Number(lines[lines.length - 1]) };
}


/** The q-quantile of `values` (0.25 and 0.75: quartiles), by linear interpolation. */
export const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low);
};

export const median = (values: number[]): number => quantile(values, 0.5);

/** A plain Node copy of a file in a fresh process (readFileSync + writeFileSync): the baseline. */
export const plainCopyScript = (): string => path.join(path.dirname(fileURLToPath(import.meta.url)), 'plain-copy.js');

/** 75 MatMul layers of 1024x1024 float32 (about 315 MB), with a symbolic batch. Generated once into bench/out. */
export async function largeModel(): Promise<string> {
  mkdirSync(benchOut, { recursive: true });
  const file = path.join(benchOut, 'large-75x1024.onnx');
  if (existsSync(file)) return file;
  const layers = 75;
  const width = 1024;
  const initializers = [];
  const nodes = [];
  for (let i = 0; i < layers; i++) {
    const weights = new Float32Array(width * width);
    for (let j = 0; j < weights.length; j++) weights[j] = (((j * 2654435761 + i) >>> 0) % 2001) / 1000 / width - 1 / width;
    initializers.push(makeTensor(`w${i}`, TensorProto_DataType.FLOAT, [width, width], weights));
    nodes.push(makeNode('MatMul', [i === 0 ? 'x' : `h${i - 1}`, `w${i}`], [i === layers - 1 ? 'y' : `h${i}`], {}, { name: `layer${i}` }));
  }
  const model = makeModel(
    makeGraph({
      name: 'large',
      inputs: [makeValueInfo('x', TensorProto_DataType.FLOAT, ['batch', width])],
      outputs: [makeValueInfo('y', TensorProto_DataType.FLOAT, ['batch', width])],
      initializers,
      nodes,
    }),
    { opset: 13 },
  );
  await saveModel(model, file);
  return file;
}

export const fileSize = (file: string): number => statSync(file).size;

export const MLP_WIDTH = 1024;

/**
 * A float32 MLP of `layers` MatMul + Relu layers, `width` wide, with a symbolic batch (input x, output y),
 * generated once into bench/out: the session benchmark's 4x1024 by default, and the serving benchmark's 1x64.
 */
export async function mlpModel(layers = 4, width = MLP_WIDTH): Promise<string> {
  mkdirSync(benchOut, { recursive: true });
  const file = path.join(benchOut, `mlp-${layers}x${width}.onnx`);
  if (existsSync(file)) return file;
  const r = new SeededRandom(99);
  const nodes = [];
  const initializers = [];
  for (let i = 0; i < layers; i++) {
    initializers.push(makeTensor(`w${i}`, TensorProto_DataType.FLOAT, [width, width], r.floats(width * width, 1 / 32)));
    nodes.push(makeNode('MatMul', [i === 0 ? 'x' : `a${i - 1}`, `w${i}`], [`m${i}`]));
    nodes.push(makeNode('Relu', [`m${i}`], [i === layers - 1 ? 'y' : `a${i}`]));
  }
  const model = makeModel(
    makeGraph({ name: `mlp${layers}`, inputs: [makeValueInfo('x', TensorProto_DataType.FLOAT, ['batch', width])], outputs: [makeValueInfo('y', TensorProto_DataType.FLOAT, ['batch', width])], initializers, nodes }),
    { opset: 13 },
  );
  await saveModel(model, file);
  return file;
}
