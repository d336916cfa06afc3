/**
 * bfloat16 tensor data.
 *
 * onnxruntime-node's tensors have no bfloat16 type. A bfloat16 graph input or output travels in a 'uint16'
 * tensor that holds the bfloat16 bit patterns (a Uint16Array): the upper 16 bits of the float32 of the same
 * value. These helpers turn float32 values into such bits (rounding to nearest, ties to even, as onnxruntime's
 * Cast does) and bits back into float32 values (exactly: every bfloat16 is a float32).
 */

const float32 = new Float32Array(1);
const float32Bits = new Uint32Array(float32.buffer);

/** The bfloat16 bit pattern nearest to the float32 with bits `bits` (ties to even; a NaN stays a quiet NaN of its sign). */
function roundedBits(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x0040) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit carries into the kept half exactly when the dropped half is more than
  // half an ulp, or exactly half with an odd kept half; a carry out of the mantissa reaches the exponent (and
  // past the largest finite value, infinity).
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The bfloat16 bit pattern nearest to `value` once it is a float32 (ties to even; NaN stays NaN). */
export function toBfloat16(value: number): number {
  float32[0] = value;
  return roundedBits(float32Bits[0]!);
}

/** The number a bfloat16 bit pattern stands for (exact). */
export function fromBfloat16(bits: number): number {
  float32Bits[0] = (bits & 0xffff) << 16;
  return float32[0]!;
}

/** bfloat16 bit patterns of float32 values, each rounded to nearest with ties to even (NaN stays NaN). */
export function bfloat16FromFloat32(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = roundedBits(bits[i]!);
  return out;
}

/** The float32 values of bfloat16 bit patterns (exact). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}
