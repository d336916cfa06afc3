/**
 * float16 tensor data on every Node version.
 *
 * onnxruntime-node stores a float16 element as its IEEE half bit pattern. What a float16 tensor's `data` is
 * depends on the JavaScript runtime: where `Float16Array` exists (Node 24 and later; Node 22 only with
 * --js-float16array), onnxruntime-common's `Tensor` turns Uint16Array data into a Float16Array view of the same
 * bytes, and session outputs are Float16Array views; elsewhere both are Uint16Array bit patterns. The same two
 * bytes per element either way, so one form is a zero-copy view of the other.
 *
 * (onnxruntime-node's binding reads the data of an input tensor as a Uint16Array only; see ort-tensor.ts.)
 */

/** The shape of a `Float16Array` (ES2025), declared here: the project targets ES2022 and Node 20 has none. */
export interface Float16ArrayLike {
  readonly [index: number]: number;
  readonly length: number;
  readonly buffer: ArrayBufferLike;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly BYTES_PER_ELEMENT: number;
  subarray(begin?: number, end?: number): Float16ArrayLike;
  slice(begin?: number, end?: number): Float16ArrayLike;
}

/** float16 data in either form: Uint16Array bit patterns (every Node) or a Float16Array (Node 24+). */
export type Float16Data = Uint16Array | Float16ArrayLike;

type Float16ArrayConstructor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Float16ArrayLike;

/** This runtime's Float16Array, looked up when needed, as onnxruntime-common does. */
function float16ArrayConstructor(): Float16ArrayConstructor | undefined {
  return (globalThis as { Float16Array?: Float16ArrayConstructor }).Float16Array;
}

/** Whether onnxruntime-node's float16 tensors hold a Float16Array here (else a Uint16Array). */
export function hasFloat16Array(): boolean {
  return float16ArrayConstructor() !== undefined;
}

/** A Float16Array, from any realm (a worker's included), told apart without needing the global. */
export function isFloat16Array(data: unknown): data is Float16ArrayLike {
  return ArrayBuffer.isView(data) && (data as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'Float16Array';
}

/** The bit patterns of float16 data in either form, as a Uint16Array over the same bytes (no copy). */
export function float16Bits(data: Float16Data): Uint16Array {
  return data instanceof Uint16Array ? data : new Uint16Array(data.buffer, data.byteOffset, data.length);
}

/**
 * Bit patterns in the form onnxruntime-node's float16 tensors hold on this Node (what its outputs are): a
 * Float16Array view over the same bytes where Float16Array exists, else the Uint16Array itself.
 */
export function float16Storage(bits: Uint16Array): Float16Data {
  const Float16 = float16ArrayConstructor();
  return Float16 === undefined ? bits : new Float16(bits.buffer, bits.byteOffset, bits.length);
}

/** Rounds to the nearest integer, ties to even. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  return rest > 0.5 || (rest === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
}

/** The IEEE half bit pattern nearest to `value` (ties to even, as Float16Array and onnxruntime round). */
export function toHalf(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  // 65520 lies halfway between the largest half (65504) and 2^16: ties to even round it up, to infinity.
  if (magnitude >= 65520) return sign | 0x7c00;
  // Subnormals count in units of 2^-24; 1024 units carry into the smallest normal (0x0400).
  if (magnitude < 2 ** -14) return sign | roundHalfEven(magnitude * 2 ** 24);
  let exponent = Math.floor(Math.log2(magnitude));
  if (2 ** exponent > magnitude) exponent -= 1;
  else if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  // A mantissa rounded up to 1024 carries into the exponent: the sum, not an OR.
  return sign | (((exponent + 15) << 10) + roundHalfEven((magnitude / 2 ** exponent - 1) * 1024));
}

/** The number an IEEE half bit pattern stands for. */
export function fromHalf(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (mantissa / 1024);
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * 2 ** (exponent - 15) * (1 + mantissa / 1024);
}

/** Half bit patterns for numbers. */
export function float32ToHalfArray(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from(values, toHalf);
}

/** The numbers float16 data in either form stands for. */
export function float16Values(data: Float16Data): Float32Array {
  return Float32Array.from(float16Bits(data), fromHalf);
}
