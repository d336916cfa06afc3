/**
 * How a batch is cut: part sizes proportional to integer weights, each `floor(B * w_i / W)`, and the remainder
 * handed out one by one to the first parts. With equal weights the sizes differ by at most one, larger parts
 * first (batch 10 over 4 gives 3,3,2,2). The graph's split nodes compute the very same formula.
 */

/** Turns user weights (positive numbers) into small positive integers with the same ratios. */
export function integerWeights(weights: number[]): number[] {
  const scale = 10 ** Math.min(6, Math.max(0, ...weights.map(decimals)));
  const ints = weights.map((w) => Math.round(w * scale));
  const divisor = ints.reduce(gcd);
  return ints.map((w) => w / divisor);
}

function decimals(value: number): number {
  const text = String(value);
  const dot = text.indexOf('.');
  return dot < 0 || text.includes('e') ? 0 : text.length - dot - 1;
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
