/**
 * Model I/O benchmark: load + save of a generated 315 MB model against a plain Node copy of the same file,
 * each in a fresh process, interleaved pair by pair. Prints the median wall-time ratio and peak RSS / file size.
 * Targets: time ratio <= 2, RSS ratio <= 1.5.
 */
import path from 'node:path';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchOut, fileSize, largeModel, measureNode, median, plainCopyScript } from './harness.js';

const pairs = Number(process.env['BENCH_PAIRS'] ?? 5);
const model = await largeModel();
const size = fileSize(model);
const contender = path.join(path.dirname(fileURLToPath(import.meta.url)), 'load-save.js');
const timeRatios: number[] = [];
const rss: number[] = [];
const copyMs: number[] = [];
const saveMs: number[] = [];
for (let i = 0; i < pairs; i++) {
  const copy = measureNode(plainCopyScript(), [model, path.join(benchOut, 'copy.onnx')]);
  const ours = measureNode(contender, [model, path.join(benchOut, 'saved.onnx')]);
  timeRatios.push(ours.wallMs / copy.wallMs);
  rss.push(ours.maxRssBytes);
  copyMs.push(copy.wallMs);
  saveMs.push(ours.wallMs);
}
rmSync(path.join(benchOut, 'copy.onnx'), { force: true });
rmSync(path.join(benchOut, 'saved.onnx'), { force: true });
const timeRatio = median(timeRatios);
const rssRatio = median(rss) / size;
console.log(`model: ${(size / 1e6).toFixed(1)} MB, ${pairs} interleaved pairs`);
console.log(`plain copy: median ${median(copyMs).toFixed(0)} ms; load+save: median ${median(saveMs).toFixed(0)} ms`);
console.log(`load+save / plain copy wall time: ${timeRatio.toFixed(2)}x (target <= 2.00x) ${timeRatio <= 2 ? 'OK' : 'OVER'}`);
console.log(`load+save peak RSS / file size: ${rssRatio.toFixed(2)}x (target <= 1.50x) ${rssRatio <= 1.5 ? 'OK' : 'OVER'}`);
