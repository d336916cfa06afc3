/**
 * Writes a benchmark MLP (harness.ts mlpModel: LAYERS float32 MatMul + Relu layers, WIDTH wide, input x and output y
 * with a symbolic batch) to OUT; without LAYERS and WIDTH, the session benchmark's 4x1024.
 * Usage: node dist/bench/make-bench-model.js OUT [LAYERS WIDTH]
 */
import { copyFileSync } from 'node:fs';
import { MLP_WIDTH, mlpModel } from './harness.js';

const [out, layersArg, widthArg] = process.argv.slice(2);
const wholeNumber = (text: string | undefined, fallback: number): number => {
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`expected a whole number >= 1, got ${text}\nusage: make-bench-model.js OUT [LAYERS WIDTH]\n`);
    process.exit(2);
  }
  return n;
};
if (out === undefined || (layersArg === undefined) !== (widthArg === undefined)) {
  process.stderr.write('usage: make-bench-model.js OUT [LAYERS WIDTH]\n');
  process.exit(2);
}
copyFileSync(await mlpModel(wholeNumber(layersArg, 4), wholeNumber(widthArg, MLP_WIDTH)), out);
