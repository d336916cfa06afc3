/**
 * How a batch is cut: part sizes proportional to integer weights, each `floor(B * w_i / W)`, and the remainder
 * handed out one by one to the first parts. With equal weights the sizes differ by at most one, larger parts
 * first (batch 10 over 4 gives 3,3,2,2). The graph's split nodes compute the very same formula.
 */
import { InputError } from '../errors.js';

/**
 * The largest whole-number weight. The graph computes batch * weight in int64 and the host in doubles, so
 * weights stay small enough for any real batch.
 */
export const MAX_INTEGER_WEIGHT = 1_000_000;

/**
 * Turns user weights (positive numbers, counted to 6 decimals) into small positive integers with the same
 * ratios; refuses weights that need integers past MAX_INTEGER_WEIGHT (too far apart, or too many decimals).
 */
export function integerWeights(weights: number[]): number[] {
  const scale = 10 ** Math.min(6, Math.max(0, ...weights.map(decimals)));
  const ints = weights.map((w) => Math.round(w * scale));
  const refused = (detail: string): InputError =>
    new InputError(`--weights ${weights.join(',')}: not whole-number weights of at most ${MAX_INTEGER_WEIGHT} (${detail}); give weights closer together or with fewer decimals (6 at most)`);
  ints.forEach((w, i) => {
    if (!(w >= 1)) throw refused(`${weights[i]} is 0 at 6 decimals`);
    if (!Number.isSafeInteger(w)) throw refused(`${weights[i]} is too large`);
  });
  const divisor = ints.reduce(gcd, 0);
  const reduced = ints.map((w) => w / divisor);
  if (reduced.some((w) => w > MAX_INTEGER_WEIGHT)) throw refused(`as whole numbers ${reduced.join(':')}`);
  return reduced;
}

/** Decimal places of a number as JavaScript writes it (1e-7 has 7). */
function decimals(value: number): number {
  const [mantissa = '', exponent = '0'] = String(value).split('e');
  const dot = mantissa.indexOf('.');
  return Math.max(0, (dot < 0 ? 0 : mantissa.length - dot - 1) - Number(exponent));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Part sizes of a batch of `batch` rows for the given integer weights. */
export function splitSizes(batch: number, weights: number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const base = weights.map((w) => Math.floor((batch * w) / total));
  const remainder = batch - base.reduce((a, b) => a + b, 0);
  return base.map((size, i) => size + (i < remainder ? 1 : 0));
}

/** Start offsets of the parts. */
export function splitOffsets(sizes: number[]): number[] {
  const offsets: number[] = [];
  let offset = 0;
  for (const size of sizes) {
    offsets.push(offset);
    offset += size;
  }
  return offsets;
}
