/** Comparing output tensors: exact for integers, bools and strings; relative tolerance for floats. */
import type * as ort from 'onnxruntime-node';
import { float16Values, type Float16Data } from '../tensors/float16.js';
import { bfloat16ToFloat32 } from '../tensors/bfloat16.js';

export interface Comparison {
  equal: boolean;
  maxAbsError: number;
  maxRelError: number;
  /** Why they differ, for the first difference. */
  detail?: string;
}

const floatTypes = new Set(['float32', 'float64', 'float16']);

/**
 * The relative tolerance of --verify. A replica computes on fewer rows than the original, and onnxruntime picks
 * other kernels and summation orders for other shapes: in deep float32 models (convolutions, recurrent layers)
 * that moves results by about 1e-5 relative. Models that are not separable per sample are off by far more.
 */
export function relativeTolerance(type: string): number {
  if (type === 'float16') return 1e-2;
  // 8 significant bits: one step is up to 0.8% of the value.
  if (type === 'bfloat16') return 2e-2;
  if (type === 'float64') return 1e-9;
  return 1e-4;
}

/**
 * Compares `actual` with `expected`. With `bfloat16`, both are uint16 tensors of bfloat16 bit patterns (as a
 * bfloat16 output comes from onnxruntime-node), compared as the values they stand for.
 */
export function compareTensors(actual: ort.Tensor, expected: ort.Tensor, bfloat16 = false): Comparison {
  if (bfloat16 && actual.type === 'uint16' && expected.type === 'uint16') {
    const mismatch = shapeMismatch(actual, expected);
    if (mismatch !== undefined) return mismatch;
    return compareValues(bfloat16ToFloat32(actual.data as Uint16Array), bfloat16ToFloat32(expected.data as Uint16Array), relativeTolerance('bfloat16'));
  }
  if (actual.type !== expected.type) return { equal: false, maxAbsError: Infinity, maxRelError: Infinity, detail: `type ${actual.type}, expected ${expected.type}` };
  const mismatch = shapeMismatch(actual, expected);
  if (mismatch !== undefined) return mismatch;
  if (!floatTypes.has(expected.type)) {
    const a = actual.data as ArrayLike<number | bigint | string>;
    const e = expected.data as ArrayLike<number | bigint | string>;
    for (let i = 0; i < e.length; i++) {
      if (a[i] !== e[i]) return { equal: false, maxAbsError: Infinity, maxRelError: Infinity, detail: `element ${i}: ${String(a[i])}, expected ${String(e[i])}` };
    }
    return { equal: true, maxAbsError: 0, maxRelError: 0 };
  }
  return compareValues(floatValues(actual), floatValues(expected), relativeTolerance(expected.type));
}

/** The comparison of tensors whose shapes differ, or undefined when they agree. */
function shapeMismatch(actual: ort.Tensor, expected: ort.Tensor): Comparison | undefined {
  if (actual.dims.join(',') === expected.dims.join(',')) return undefined;
  return { equal: false, maxAbsError: Infinity, maxRelError: Infinity, detail: `shape [${actual.dims.join(', ')}], expected [${expected.dims.join(', ')}]` };
}

/** Float values (as many each) compared element by element, within `rtol`. */
function compareValues(a: ArrayLike<number>, e: ArrayLike<number>, rtol: number): Comparison {
  let scale = 0;
  for (let i = 0; i < e.length; i++) {
    const v = Math.abs(e[i]!);
    if (Number.isFinite(v) && v > scale) scale = v;
  }
  let maxAbs = 0;
  let maxRel = 0;
  let detail: string | undefined;
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    const abs = Math.abs(x - y);
    const rel = abs / Math.max(Math.abs(y), Number.MIN_VALUE);
    if (Number.isNaN(abs)) {
      maxAbs = Infinity;
      maxRel = Infinity;
      detail ??= `element ${i}: ${x}, expected ${y}`;
      continue;
    }
    maxAbs = Math.max(maxAbs, abs);
    maxRel = Math.max(maxRel, rel);
    // Relative to the element, with a floor at a tenth of the tensor's scale for values near zero
    // (sums computed at another batch size round differently).
    if (abs > rtol * Math.max(Math.abs(y), 0.1 * scale) + 1e-30) detail ??= `element ${i}: ${x}, expected ${y}`;
  }
  return detail === undefined ? { equal: true, maxAbsError: maxAbs, maxRelError: maxRel } : { equal: false, maxAbsError: maxAbs, maxRelError: maxRel, detail };
}

/** The values of a float tensor: float16 decoded from either form (bit patterns or Float16Array). */
export function floatValues(tensor: ort.Tensor): ArrayLike<number> {
  return tensor.type === 'float16' ? float16Values(tensor.data as Float16Data) : (tensor.data as Float32Array);
}
