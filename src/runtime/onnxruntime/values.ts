/**
 * OrtValues: tensors over the caller's memory (CreateTensorWithDataAsOrtValue: onnxruntime reads and writes the
 * typed array where it lies, never a copy), string tensors (each element's UTF-8 bytes copied in with their length,
 * so a string may hold NUL characters), and reading a
 * tensor that onnxruntime made (its type, dims and data, copied once into JavaScript memory or into a given view).
 *
 * A value over the caller's memory points into it without owning it: the `TensorValue` holds the typed array, so
 * that whoever keeps the value (until its run is over, then releases it) keeps the memory alive too.
 */
import { koffi } from './koffi.js';
import { ortApi, type Handle } from './library.js';
import { check, Out } from './status.js';
import { bytesPerElement, elementType, heldTypeName, typeName } from './element-types.js';
import { float16Bits, isFloat16Array } from '../../tensors/float16.js';

/** A tensor's data as onnxruntime-node holds it: a typed array (float16 as Uint16Array bits or a Float16Array), or strings. */
export type TensorData = ArrayBufferView | string[];

/** One OrtValue and the JavaScript memory it points into (kept reachable as long as this object is). */
export interface TensorValue {
  readonly handle: Handle;
  /** The memory onnxruntime reads or writes; undefined for a value that owns its memory (strings). */
  readonly data: ArrayBufferView | undefined;
}

let cpuMemory: Handle | undefined;
/** The CPU memory info every value over JavaScript memory is described by (made once, never released). */
function cpuMemoryInfo(): Handle {
  if (cpuMemory !== undefined) return cpuMemory;
  const api = ortApi();
  const out = new Out();
  check(api, api.CreateCpuMemoryInfo(/* OrtArenaAllocator */ 1, /* OrtMemTypeDefault */ 0, out.cell));
  cpuMemory = out.value;
  return cpuMemory;
}

let defaultAllocator: Handle | undefined;
/** onnxruntime's default CPU allocator (owned by onnxruntime: never released). */
export function ortAllocator(): Handle {
  if (defaultAllocator !== undefined) return defaultAllocator;
  const api = ortApi();
  const out = new Out();
  check(api, api.GetAllocatorWithDefaultOptions(out.cell));
  defaultAllocator = out.value;
  return defaultAllocator;
}

const shapeOf = (dims: readonly number[]): BigInt64Array => BigInt64Array.from(dims, (d) => BigInt(d));
const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** The bytes onnxruntime is to see for numeric data: a Float16Array as its Uint16Array bits, a Node Buffer as it is. */
function numericView(data: ArrayBufferView): ArrayBufferView {
  return isFloat16Array(data) ? float16Bits(data) : data;
}

/**
 * A tensor of `type` and `dims` over `data`: numeric data is used in place (input or output alike); strings are
 * copied into a tensor onnxruntime owns. Release it with releaseValue once the run that uses it is over.
 */
export function tensorValue(type: string, dims: readonly number[], data: TensorData): TensorValue {
  const api = ortApi();
  const out = new Out();
  const shape = shapeOf(dims);
  if (type === 'string') {
    const strings = data as string[];
    const handle = allocatedValue(ortAllocator(), 'string', dims);
    try {
      fillStrings(handle, strings);
    } catch (error) {
      api.ReleaseValue(handle);
      throw error;
    }
    return { handle, data: undefined };
  }
  const view = numericView(data as ArrayBufferView);
  const needed = elementCount(dims) * bytesPerElement(type)!;
  if (view.byteLength < needed) throw new TypeError(`a ${type} tensor [${dims.join(', ')}] needs ${needed} bytes, its data holds ${view.byteLength}`);
  check(api, api.CreateTensorWithDataAsOrtValue(cpuMemoryInfo(), view, needed, shape, dims.length, elementType(type), out.cell));
  return { handle: out.value, data: view };
}

/** A tensor of `type` and `dims` in memory `allocator` gives (a GPU's, or onnxruntime's CPU memory), which the value owns. */
export function allocatedValue(allocator: Handle, type: string, dims: readonly number[]): Handle {
  const api = ortApi();
  const out = new Out();
  check(api, api.CreateTensorAsOrtValue(allocator, shapeOf(dims), dims.length, elementType(type), out.cell));
  return out.value;
}

/** The address of a tensor value's data (in whichever memory it lies). */
export function dataAddress(value: Handle): number {
  const api = ortApi();
  const out = new Out();
  check(api, api.GetTensorMutableData(value, out.cell));
  return out.value;
}

/**
 * A tensor of ONNX element type `elementType` (TensorProto.DataType, which onnxruntime's element types number the
 * same way) over `bytes`, used where they lie. The caller keeps the bytes until every user of the value is gone.
 */
export function rawTensorValue(elementType: number, dims: readonly number[], bytes: Uint8Array): Handle {
  const api = ortApi();
  const out = new Out();
  check(api, api.CreateTensorWithDataAsOrtValue(cpuMemoryInfo(), bytes, bytes.byteLength, shapeOf(dims), dims.length, elementType, out.cell));
  return out.value;
}

/**
 * Writes each string's UTF-8 bytes into its element by length (GetResizedStringTensorElementBuffer), not as a C
 * string: FillStringTensor would end an element at its first NUL character.
 */
function fillStrings(value: Handle, strings: readonly string[]): void {
  const api = ortApi();
  const encoder = new TextEncoder();
  const buffer = new Out();
  strings.forEach((text, index) => {
    if (text.length === 0) return; // elements start empty
    const bytes = encoder.encode(text);
    check(api, api.GetResizedStringTensorElementBuffer(value, index, bytes.length, buffer.cell));
    new Uint8Array(koffi.view(buffer.value, bytes.length)).set(bytes);
  });
}

export function releaseValue(value: Handle): void {
  if (value) ortApi().ReleaseValue(value);
}

/** A tensor's element type name and dims. */
export interface TensorShape {
  type: string;
  dims: number[];
}

/**
 * The type and dims of a tensor value onnxruntime made, the type as onnxruntime-node holds it: a bfloat16 value
 * is read as 'uint16' bit patterns (onnxruntime-node tensors have no bfloat16 type).
 */
export function tensorShape(value: Handle): TensorShape {
  const api = ortApi();
  const info = new Out();
  check(api, api.GetTensorTypeAndShape(value, info.cell));
  try {
    return shapeInfo(info.value, heldTypeName);
  } finally {
    api.ReleaseTensorTypeAndShapeInfo(info.value);
  }
}

/** Type and dims from an OrtTensorTypeAndShapeInfo (dims not known until a run are -1), the type named by `name`. */
export function shapeInfo(info: Handle, name: (elementType: number) => string | undefined = typeName): TensorShape {
  const api = ortApi();
  const element = new Int32Array(1);
  check(api, api.GetTensorElementType(info, element));
  const count = new Out();
  check(api, api.GetDimensionsCount(info, count.cell));
  const dims = new BigInt64Array(count.value);
  check(api, api.GetDimensions(info, dims, dims.length));
  const type = name(element[0]!);
  if (type === undefined) throw new TypeError(`element type ${element[0]} has no onnxruntime-node tensor type`);
  return { type, dims: Array.from(dims, Number) };
}

/**
 * The data of a tensor onnxruntime made, copied once: into `into` (a view of exactly its bytes) where given, else
 * into a fresh typed array of its type. Strings are decoded from UTF-8.
 */
export function readTensor(value: Handle, shape: TensorShape, into?: ArrayBufferView): TensorData {
  const count = elementCount(shape.dims);
  if (shape.type === 'string') return readStrings(value, count);
  const bytes = count * bytesPerElement(shape.type)!;
  const target = into ?? newArray(shape.type, count);
  if (bytes === 0) return target;
  new Uint8Array(target.buffer, target.byteOffset, bytes).set(new Uint8Array(koffi.view(dataAddress(value), bytes)));
  return target;
}

function readStrings(value: Handle, count: number): string[] {
  const api = ortApi();
  if (count === 0) return [];
  const length = new Out();
  check(api, api.GetStringTensorDataLength(value, length.cell));
  const bytes = new Uint8Array(length.value);
  const offsets = new BigUint64Array(count);
  check(api, api.GetStringTensorContent(value, bytes, bytes.length, offsets, count));
  const decoder = new TextDecoder();
  const strings: string[] = [];
  for (let i = 0; i < count; i++) strings.push(decoder.decode(bytes.subarray(Number(offsets[i]), i + 1 < count ? Number(offsets[i + 1]) : bytes.length)));
  return strings;
}

const arrays: Record<string, new (length: number) => ArrayBufferView> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
};

/** A fresh typed array for `count` elements of a numeric tensor type (float16 as Uint16Array bits). */
export function newArray(type: string, count: number): ArrayBufferView {
  const Ctor = arrays[type];
  if (Ctor === undefined) throw new TypeError(`tensor type '${type}' has no typed array`);
  return new Ctor(count);
}

/**
 * A fresh typed array for an output that onnxruntime is to fill entirely, left unfilled: zeroing 16 MB first
 * costs milliseconds (the allocator hands large blocks back dirty once it keeps freed memory). Never returned
 * to anyone unless the run that writes it succeeds.
 */
export function outputArray(type: string, count: number): ArrayBufferView {
  const Ctor = arrays[type] as unknown as (new (buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView) & { BYTES_PER_ELEMENT: number };
  if (Ctor === undefined) throw new TypeError(`tensor type '${type}' has no typed array`);
  return new Ctor(Buffer.allocUnsafeSlow(count * Ctor.BYTES_PER_ELEMENT).buffer as ArrayBuffer, 0, count);
}
