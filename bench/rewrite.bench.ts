/**
 * Rewrite benchmark:
 * 1. the 315 MB generated model rewritten with --gpus 4, against a plain Node copy of the file, each in a fresh
 *    process, interleaved pair by pair: median wall-time ratio (target <= 2), peak RSS / file size (<= 1.5),
 *    output size / input size (<= 1.05);
 * 2. a 100,000-node graph rewritten for 4 devices: load + rewrite + save wall time (target < 3 s).
 */
import path from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TensorProto_DataType } from '../src/onnx.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { saveModel } from '../src/io/files.js';
import { benchOut, fileSize, largeModel, measureNode, median, plainCopyScript } from './harness.js';

const pairs = Number(process.env['BENCH_PAIRS'] ?? 5);
const contender = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rewrite-file.js');

async function hugeGraph(nodes: number): Promise<string> {
  const file = path.join(benchOut, `graph-${nodes}.onnx`);
  if (existsSync(file)) return file;
  const bias = makeTensor('bias', TensorProto_DataType.FLOAT, [64], new Float32Array(64).fill(0.001));
  const list = Array.from({ length: nodes }, (_, i) =>
    i % 2 === 0
      ? makeNode('Add', [i === 0 ? 'x' : `v${i - 1}`, 'bias'], [i === nodes - 1 ? 'y' : `v${i}`], {}, { name: `add${i}` })
      : makeNode('Relu', [`v${i - 1}`], [i === nodes - 1 ? 'y' : `v${i}`], {}, { name: `relu${i}` }),
  );
  const model = makeModel(
    makeGraph({
      name: 'huge',
      inputs: [makeValueInfo('x', TensorProto_DataType.FLOAT, ['batch', 64])],
      outputs: [makeValueInfo('y', TensorProto_DataType.FLOAT, ['batch', 64])],
      initializers: [bias],
      nodes: list,
    }),
    { opset: 13 },
  );
  await saveModel(model, file);
  return file;
}

const model = await largeModel();
const size = fileSize(model);
const out = path.join(benchOut, 'large.parallel.onnx');
const ratios: number[] = [];
const rss: number[] = [];
let outSize = 0;
for (let i = 0; i < pairs; i++) {
  const copy = measureNode(plainCopyScript(), [model, path.join(benchOut, 'copy.onnx')]);
  const ours = measureNode(contender, [model, out, '4']);
  ratios.push(ours.wallMs / copy.wallMs);
  rss.push(ours.maxRssBytes);
  outSize = fileSize(out);
}
rmSync(path.join(benchOut, 'copy.onnx'), { force: true });
rmSync(out, { force: true });
const timeRatio = median(ratios);
const rssRatio = median(rss) / size;
const sizeRatio = outSize / size;
console.log(`rewrite --gpus 4 of the ${(size / 1e6).toFixed(1)} MB model, ${pairs} interleaved pairs against a plain Node copy`);
console.log(`wall time / plain copy: ${timeRatio.toFixed(2)}x (target <= 2.00x) ${timeRatio <= 2 ? 'OK' : 'OVER'}`);
console.log(`peak RSS / file size: ${rssRatio.toFixed(2)}x (target <= 1.50x) ${rssRatio <= 1.5 ? 'OK' : 'OVER'}`);
console.log(`output size / input size: ${sizeRatio.toFixed(4)}x (target <= 1.05x) ${sizeRatio <= 1.05 ? 'OK' : 'OVER'}`);

const graph = await hugeGraph(100_000);
const graphOut = path.join(benchOut, 'graph.parallel.onnx');
const times: number[] = [];
for (let i = 0; i < Math.max(3, Math.min(pairs, 5)); i++) times.push(measureNode(contender, [graph, graphOut, '4']).wallMs);
rmSync(graphOut, { force: true });
const graphMs = median(times);
const seconds = (ms: number): string => (ms / 1000).toFixed(2);
console.log(
  `100,000-node graph, load + rewrite for 4 devices + save: median ${seconds(graphMs)} s of ${times.length} runs (${seconds(Math.min(...times))} to ${seconds(Math.max(...times))} s) (target < 3 s) ${graphMs < 3000 ? 'OK' : 'OVER'}`,
);
