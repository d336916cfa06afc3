/**
 * Weights are stored once. Constant nodes (main graph and If/Loop/Scan bodies) and the initializers of
 * bodies are hoisted out of the replicas: they become shared initializers of the main graph (or, below
 * IR 4, shared Constant nodes), referenced by every replica.
 */
import { create } from '@bufbuild/protobuf';
import { withFields } from '../graph/copy.js';
import {
  AttributeProto_AttributeType,
  TensorProtoSchema,
  TensorProto_DataType,
  type GraphProto,
  type NodeProto,
  type SparseTensorProto,
  type TensorProto,
} from '../onnx.js';
import { forEachGraph } from '../graph/walk.js';
import { describeNode, isDefaultDomain, isInt64 } from '../graph/types.js';
import { InputError } from '../errors.js';
import { makeNode, makeTensor } from '../graph/build.js';
import { inheritSourceFolder } from '../io/external-data.js';
import type { NameAllocator } from './names.js';

export interface HoistPlan {
  /** Per graph (main graph and bodies): original value name -> shared name. */
  renames: Map<GraphProto, Map<string, string>>;
  /** Constant nodes that replicas skip. */
  skipped: Set<NodeProto>;
  initializers: TensorProto[];
  sparseInitializers: SparseTensorProto[];
  /** Below IR 4 hoisted constants stay Constant nodes (initializers would have to be graph inputs). */
  constantNodes: NodeProto[];
}

export const isConstantNode = (node: NodeProto): boolean => node.opType === 'Constant' && isDefaultDomain(node.domain);

function renamed<T extends TensorProto>(tensor: T, name: string): T {
  const copy = withFields(tensor, { name } as Partial<T>);
  inheritSourceFolder(tensor, copy);
  return copy;
}

const A = AttributeProto_AttributeType;
/** The type of each attribute a Constant can hold its value in. */
const CONSTANT_ATTRIBUTE_TYPES: Readonly<Record<string, AttributeProto_AttributeType>> = {
  value: A.TENSOR,
  sparse_value: A.SPARSE_TENSOR,
  value_float: A.FLOAT,
  value_floats: A.FLOATS,
  value_int: A.INT,
  value_ints: A.INTS,
  value_string: A.STRING,
  value_strings: A.STRINGS,
};

/**
 * The value of a Constant node as a tensor or sparse tensor named `name`, or undefined when it has none (it is
 * then left in place). An attribute whose type is not the one its name says is refused: its value is unknown.
 */
export function constantValue(node: NodeProto, name: string): TensorProto | SparseTensorProto | undefined {
  const attribute = node.attribute[0];
  if (attribute === undefined || node.attribute.length !== 1 || attribute.refAttrName !== '') return undefined;
  const expected = CONSTANT_ATTRIBUTE_TYPES[attribute.name];
  if (expected === undefined) return undefined;
  // Some old exporters leave the type unset; the attribute's name then says it.
  if (attribute.type !== expected && attribute.type !== A.UNDEFINED) {
    throw new InputError(`${describeNode(node)}: attribute '${attribute.name}' has type ${A[attribute.type] ?? attribute.type}, not ${A[expected]}; the model is damaged`);
  }
  const ints = attribute.name === 'value_int' ? [attribute.i] : attribute.ints;
  const outOfRange = ints.find((v) => !isInt64(v));
  if (outOfRange !== undefined) throw new InputError(`${describeNode(node)}: attribute '${attribute.name}' holds ${outOfRange}, which is not a 64-bit integer`);
  switch (attribute.name) {
    case 'value':
      return attribute.t === undefined ? undefined : renamed(attribute.t, name);
    case 'sparse_value':
      if (attribute.sparseTensor?.values === undefined) return undefined;
      return withFields(attribute.sparseTensor, { values: renamed(attribute.sparseTensor.values, name) });
    case 'value_float':
      return makeTensor(name, TensorProto_DataType.FLOAT, [], Float32Array.of(attribute.f));
    case 'value_floats':
      return makeTensor(name, TensorProto_DataType.FLOAT, [attribute.floats.length], Float32Array.from(attribute.floats));
    case 'value_int':
      return makeTensor(name, TensorProto_DataType.INT64, [], BigInt64Array.of(attribute.i));
    case 'value_ints':
      return makeTensor(name, TensorProto_DataType.INT64, [attribute.ints.length], BigInt64Array.from(attribute.ints));
    default: {
      const single = attribute.name === 'value_string';
      const tensor = create(TensorProtoSchema, { name, dataType: TensorProto_DataType.STRING, stringData: single ? [attribute.s] : attribute.strings });
      if (!single) tensor.dims = [BigInt(attribute.strings.length)];
      return tensor;
    }
  }
}

export function planHoisting(main: GraphProto, names: NameAllocator, asInitializers: boolean): HoistPlan {
  const plan: HoistPlan = { renames: new Map(), skipped: new Set(), initializers: [], sparseInitializers: [], constantNodes: [] };
  const mainNames = new Set(main.initializer.map((t) => t.name));
  forEachGraph(main, (graph, depth) => {
    const map = new Map<string, string>();
    plan.renames.set(graph, map);
    const shared = (original: string): string => {
      const name = depth === 0 ? original : names.fresh(original);
      map.set(original, name);
      return name;
    };
    if (depth > 0) {
      for (const tensor of graph.initializer) plan.initializers.push(renamed(tensor, shared(tensor.name)));
      for (const sparse of graph.sparseInitializer) {
        if (sparse.values === undefined) continue;
        plan.sparseInitializers.push(withFields(sparse, { values: renamed(sparse.values, shared(sparse.values.name)) }));
      }
    }
    for (const node of graph.node) {
      const output = node.output[0];
      if (!isConstantNode(node) || output === undefined || output === '' || mainNames.has(output)) continue;
      const name = depth === 0 ? output : names.fresh(output);
      if (asInitializers) {
        const value = constantValue(node, name);
        if (value === undefined) continue;
        if (value.$typeName === 'onnx.SparseTensorProto') plan.sparseInitializers.push(value);
        else plan.initializers.push(value);
      } else {
        plan.constantNodes.push(withFields(makeNode('Constant', [], [name]), { attribute: node.attribute, name: names.fresh(node.name || name) }));
      }
      map.set(output, name);
      plan.skipped.add(node);
    }
  });
  return plan;
}
