/** Small constructors for ONNX protos, used by the transform and by the fixture generator. */
import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  AttributeProto_AttributeType,
  NodeProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type StringStringEntryProto,
  type TensorProto,
  type ValueInfoProto,
} from '../onnx.js';

export type AttributeValue = number | bigint | string | number[] | bigint[] | string[] | TensorProto | GraphProto | { floats: number[] } | { float: number };

const textEncoder = new TextEncoder();

/** An attribute from a plain value: integers become INT(S), `{float}`/`{floats}` FLOAT(S), strings STRING(S). */
export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  const T = AttributeProto_AttributeType;
  if (typeof value === 'number' || typeof value === 'bigint') return create(AttributeProtoSchema, { name, type: T.INT, i: BigInt(value) });
  if (typeof value === 'string') return create(AttributeProtoSchema, { name, type: T.STRING, s: textEncoder.encode(value) });
  if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') {
      return create(AttributeProtoSchema, { name, type: T.STRINGS, strings: (value as string[]).map((s) => textEncoder.encode(s)) });
    }
    return create(AttributeProtoSchema, { name, type: T.INTS, ints: (value as Array<number | bigint>).map((v) => BigInt(v)) });
  }
  if ('floats' in value) return create(AttributeProtoSchema, { name, type: T.FLOATS, floats: value.floats });
  if ('float' in value) return create(AttributeProtoSchema, { name, type: T.FLOAT, f: value.float });
  if (value.$typeName === 'onnx.TensorProto') return create(AttributeProtoSchema, { name, type: T.TENSOR, t: value });
  return create(AttributeProtoSchema, { name, type: T.GRAPH, g: value });
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  attributes: Record<string, AttributeValue> = {},
  extra: { name?: string; domain?: string } = {},
): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    input: inputs,
    output: outputs,
    ...(extra.name !== undefined ? { name: extra.name } : {}),
    ...(extra.domain !== undefined ? { domain: extra.domain } : {}),
    attribute: Object.entries(attributes).map(([name, value]) => makeAttribute(name, value)),
  });
}

/** A tensor-typed value info; dims are numbers (fixed), strings (symbolic) or null (unknown). */
export function makeValueInfo(name: string, elemType: TensorProto_DataType, shape: Array<number | string | null> | undefined): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType });
  if (shape !== undefined) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((d) =>
        create(TensorShapeProto_DimensionSchema, {
          value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : typeof d === 'string' ? { case: 'dimParam', value: d } : { case: undefined },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

const bytesPerElement: Partial<Record<TensorProto_DataType, number>> = {
  [TensorProto_DataType.FLOAT]: 4,
  [TensorProto_DataType.DOUBLE]: 8,
  [TensorProto_DataType.FLOAT16]: 2,
  [TensorProto_DataType.BFLOAT16]: 2,
  [TensorProto_DataType.INT8]: 1,
  [TensorProto_DataType.UINT8]: 1,
  [TensorProto_DataType.BOOL]: 1,
  [TensorProto_DataType.INT16]: 2,
  [TensorProto_DataType.UINT16]: 2,
  [TensorProto_DataType.INT32]: 4,
  [TensorProto_DataType.UINT32]: 4,
  [TensorProto_DataType.INT64]: 8,
  [TensorProto_DataType.UINT64]: 8,
};

export function elementSize(dataType: TensorProto_DataType): number | undefined {
  return bytesPerElement[dataType];
}

/** A tensor stored as little-endian raw_data. `data` is a typed array whose bytes are taken as they are. */
export function makeTensor(name: string, dataType: TensorProto_DataType, dims: Array<number | bigint>, data: ArrayBufferView): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dataType,
    dims: dims.map((d) => BigInt(d)),
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
  });
}

export function int64Tensor(name: string, values: Array<number | bigint>, dims: number[] = [values.length]): TensorProto {
  return makeTensor(name, TensorProto_DataType.INT64, dims, BigInt64Array.from(values.map((v) => BigInt(v))));
}

export function makeEntry(key: string, value: string): StringStringEntryProto {
  return create(StringStringEntryProtoSchema, { key, value });
}

export interface GraphParts {
  name: string;
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers?: TensorProto[];
  valueInfo?: ValueInfoProto[];
}

export function makeGraph(parts: GraphParts): GraphProto {
  return create(GraphProtoSchema, {
    name: parts.name,
    node: parts.nodes,
    input: parts.inputs,
    output: parts.outputs,
    initializer: parts.initializers ?? [],
    valueInfo: parts.valueInfo ?? [],
  });
}

export function makeModel(graph: GraphProto, options: { opset: number; irVersion?: number; domains?: Record<string, number>; producer?: string }): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: BigInt(options.irVersion ?? 8),
    producerName: options.producer ?? 'onnx-parallelize fixtures',
    producerVersion: '1',
    graph,
    opsetImport: [
      create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(options.opset) }),
      ...Object.entries(options.domains ?? {}).map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) })),
    ],
  });
}
