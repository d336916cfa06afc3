/** Reading element types and shapes out of ValueInfoProtos, and which domain an operator is in. */
import { TensorProto_DataType, type TypeProto, type ValueInfoProto } from '../onnx.js';

/** Whether an operator domain is the default one (`''` or `ai.onnx`). */
export const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/** A dim: a number when fixed, a string when symbolic, null when unknown. */
export type Dim = number | string | null;

export function dataTypeName(dataType: number): string {
  const name = TensorProto_DataType[dataType];
  return name === undefined ? `type${dataType}` : name.toLowerCase();
}

export function describeType(type: TypeProto | undefined): string {
  const value = type?.value;
  switch (value?.case) {
    case 'tensorType':
      return dataTypeName(value.value.elemType);
    case 'sequenceType':
      return `sequence<${describeType(value.value.elemType)}>`;
    case 'optionalType':
      return `optional<${describeType(value.value.elemType)}>`;
    case 'mapType':
      return `map<${dataTypeName(value.value.keyType)},${describeType(value.value.valueType)}>`;
    case 'sparseTensorType':
      return `sparse<${dataTypeName(value.value.elemType)}>`;
    default:
      return 'unknown';
  }
}

/** The tensor element type of a value, or undefined when it is not a tensor. */
export function elemTypeOf(info: ValueInfoProto): TensorProto_DataType | undefined {
  const value = info.type?.value;
  return value?.case === 'tensorType' ? value.value.elemType : undefined;
}

/** The dims of a tensor value, or undefined when its rank is unknown or it is not a tensor. */
export function shapeOf(info: ValueInfoProto): Dim[] | undefined {
  const value = info.type?.value;
  if (value?.case !== 'tensorType' || value.value.shape === undefined) return undefined;
  return value.value.shape.dim.map((d) => {
    if (d.value.case === 'dimValue') return Number(d.value.value);
    if (d.value.case === 'dimParam') return d.value.value;
    return null;
  });
}

export function formatShape(shape: Dim[] | undefined): string {
  if (shape === undefined) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
