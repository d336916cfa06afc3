/** Reading element types and shapes out of ValueInfoProtos, and which domain an operator is in. */
import { TensorProto_DataType, type NodeProto, type TypeProto, type ValueInfoProto } from '../onnx.js';
import { InputError } from '../errors.js';

/** Whether an operator domain is the default one (`''` or `ai.onnx`). */
export const isDefaultDomain = (domain: string): boolean => domain === '' || domain === 'ai.onnx';

/** A node as messages name it: `node 'name' (Op)`, or `an Op node` when it has no name. */
export const describeNode = (node: NodeProto): string =>
  node.name !== '' ? `node '${node.name}' (${node.opType})` : `${/^[AEIOU]/i.test(node.opType) ? 'an' : 'a'} ${node.opType} node`;

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

/**
 * The dims of a tensor value, or undefined when its rank is unknown or it is not a tensor. A negative dim is
 * unknown (null): -1 is how some exporters, and onnxruntime, write a dim they do not know.
 */
export function shapeOf(info: ValueInfoProto): Dim[] | undefined {
  const value = info.type?.value;
  if (value?.case !== 'tensorType' || value.value.shape === undefined) return undefined;
  return value.value.shape.dim.map((d) => {
    if (d.value.case === 'dimValue') return d.value.value < 0n ? null : Number(d.value.value);
    if (d.value.case === 'dimParam') return d.value.value;
    return null;
  });
}

/** Whether a bigint fits an int64 field (a decoded model's always do; a message built in code need not). */
export const isInt64 = (value: bigint): boolean => BigInt.asIntN(64, value) === value;

/** The largest dim computed with: numbers are exact up to 2^53 - 1, and no tensor comes near it. */
export const MAX_DIM = Number.MAX_SAFE_INTEGER;

/**
 * Refuses declared dims that no tensor can have: below -1 (-1 stands for unknown) or beyond MAX_DIM.
 * `kind` says what the value is in messages (`input`, `output`).
 */
export function checkDims(info: ValueInfoProto, kind: string): void {
  const value = info.type?.value;
  if (value?.case !== 'tensorType') return;
  value.value.shape?.dim.forEach((d, k) => {
    if (d.value.case !== 'dimValue') return;
    const size = d.value.value;
    if (size < -1n) throw new InputError(`${kind} '${info.name}': dim ${k} is ${size}; a dim is >= 0, or -1 where it is unknown; fix the model's declared shape`);
    if (size > BigInt(MAX_DIM)) throw new InputError(`${kind} '${info.name}': dim ${k} is ${size}, larger than any tensor can be (at most ${MAX_DIM}); fix the model's declared shape`);
  });
}

export function formatShape(shape: Dim[] | undefined): string {
  if (shape === undefined) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
