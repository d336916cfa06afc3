/** ONNXTensorElementDataType numbers and onnxruntime-node's tensor type names, both ways, with their element sizes. */

/** onnxruntime-node's tensor type by ONNXTensorElementDataType (the same numbers as ONNX's TensorProto.DataType). */
const typeNames: Record<number, string> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
};

const typeNumbers: Record<string, number> = Object.fromEntries(Object.entries(typeNames).map(([number, name]) => [name, Number(number)]));

const elementBytes: Record<string, number> = { float32: 4, uint8: 1, int8: 1, uint16: 2, int16: 2, int32: 4, int64: 8, bool: 1, float16: 2, float64: 8, uint32: 4, uint64: 8, bfloat16: 2 };

/** The tensor type name of an element type number, or undefined for one onnxruntime-node has no name for. */
export function typeName(elementType: number): string | undefined {
  return typeNames[elementType];
}

/**
 * The onnxruntime-node tensor type that holds a value of an element type: its type name, but 'uint16' for
 * bfloat16, whose bit patterns onnxruntime-node holds in uint16 tensors (it has no bfloat16 type).
 */
export function heldTypeName(elementType: number): string | undefined {
  const name = typeNames[elementType];
  return name === 'bfloat16' ? 'uint16' : name;
}

/** The element type number of a tensor type name; throws for an unknown one. */
export function elementType(type: string): number {
  const number = typeNumbers[type];
  if (number === undefined) throw new TypeError(`tensor type '${type}' has no onnxruntime element type`);
  return number;
}

/** Bytes per element of a numeric tensor type (undefined for strings). */
export function bytesPerElement(type: string): number | undefined {
  return elementBytes[type];
}
