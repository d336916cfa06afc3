/**
 * Structure-aware mutations of ONNX models for the fuzz test: each takes a decoded model (a private copy) and
 * damages one thing the way a broken exporter, a bad edit or a damaged file would, or returns false when the
 * model has nothing it applies to. Byte mutations damage the encoded file instead.
 */
import { create } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  DeviceConfigurationProtoSchema,
  GraphProtoSchema,
  OperatorSetIdProtoSchema,
  SparseTensorProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type StringStringEntryProto,
  type TensorProto,
  type TensorShapeProto_Dimension,
  type ValueInfoProto,
} from '../src/onnx.js';
import { TrainingInfoProtoSchema, TypeProto_SequenceSchema } from 'onnx-buf';
import { makeNode } from '../src/graph/build.js';
import { PLAN_KEY } from '../src/transform/plan.js';
import type { SeededRandom } from '../src/tensors/random.js';

export interface Mutation {
  name: string;
  /** Damages `model` in place; false when the model has nothing this mutation applies to. */
  apply(model: ModelProto, random: SeededRandom): boolean;
  /**
   * The damage cannot be written to a file (an int64 beyond 64 bits, a graph that contains itself): only a
   * library caller can hand it over, as a message object.
   */
  inMemoryOnly?: boolean;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

export const pick = <T>(random: SeededRandom, items: readonly T[]): T => items[random.int(0, items.length - 1)]!;

/** Every graph of the model, each once (a graph that contains itself included). */
function graphsOf(model: ModelProto): GraphProto[] {
  const graphs = new Set<GraphProto>();
  const visit = (graph: GraphProto): void => {
    if (graphs.has(graph)) return;
    graphs.add(graph);
    for (const node of graph.node) for (const a of node.attribute) for (const g of a.g === undefined ? a.graphs : [a.g, ...a.graphs]) visit(g);
  };
  if (model.graph !== undefined) visit(model.graph);
  return [...graphs];
}

/** The main graph most of the time, a subgraph otherwise (where there are any). */
function someGraph(model: ModelProto, random: SeededRandom): GraphProto | undefined {
  const graphs = graphsOf(model);
  if (graphs.length === 0) return undefined;
  return random.next() < 0.7 ? graphs[0] : pick(random, graphs);
}

function someNode(model: ModelProto, random: SeededRandom): NodeProto | undefined {
  const nodes = graphsOf(model).flatMap((g) => g.node);
  return nodes.length === 0 ? undefined : pick(random, nodes);
}

/** Some node, turned into one of `ops` of the default domain (its inputs, outputs and attributes kept). */
function nodeTurnedInto(model: ModelProto, random: SeededRandom, ops: readonly string[]): NodeProto | undefined {
  const node = someNode(model, random);
  if (node === undefined) return undefined;
  node.opType = pick(random, ops);
  node.domain = '';
  return node;
}

function tensorDims(info: ValueInfoProto): TensorShapeProto_Dimension[] | undefined {
  return info.type?.value.case === 'tensorType' ? info.type.value.value.shape?.dim : undefined;
}

/** Graph inputs and outputs of the main graph (what the rewrite reads), sometimes value infos and bodies' values. */
function someValueInfo(model: ModelProto, random: SeededRandom): ValueInfoProto | undefined {
  const graph = model.graph;
  if (graph === undefined) return undefined;
  const main = [...graph.input, ...graph.output];
  const all = graphsOf(model).flatMap((g) => [...g.input, ...g.output, ...g.valueInfo]);
  const from = random.next() < 0.8 && main.length > 0 ? main : all;
  return from.length === 0 ? undefined : pick(random, from);
}

function someTensor(model: ModelProto, random: SeededRandom): TensorProto | undefined {
  const tensors: TensorProto[] = [];
  for (const graph of graphsOf(model)) {
    tensors.push(...graph.initializer);
    for (const node of graph.node) for (const a of node.attribute) if (a.t !== undefined) tensors.push(a.t);
  }
  return tensors.length === 0 ? undefined : pick(random, tensors);
}

/** Dims that can be written to a file, most of them wrong. */
const fileDims: readonly bigint[] = [-1n, -2n, -7n, -(1n << 62n), INT64_MIN, INT64_MAX, 1n << 62n, 1n << 53n, (1n << 53n) + 1n, (1n << 53n) - 1n, 1n << 31n, 0n, 1n, 3n, 1000003n];
/** Dims past int64: only a message object can hold them. */
const bigDims: readonly bigint[] = [INT64_MAX + 1n, 1n << 64n, INT64_MIN - 1n, -(1n << 70n)];
/** Element types: undefined, unknown codes, and real ones that fit no arithmetic. */
const elemTypes: readonly number[] = [0, 999, -1, 0x7fffffff, 8 /* string */, 9 /* bool */, 17 /* float8 */, 1, 7];
const opsetVersions: readonly bigint[] = [0n, -1n, 1n, 6n, 9n, 10n, 1000n, 1n << 31n, 1n << 62n, INT64_MAX, INT64_MIN];

function setDim(model: ModelProto, random: SeededRandom, values: readonly bigint[], mainOnly = false): boolean {
  const main = model.graph === undefined ? [] : [...model.graph.input, ...model.graph.output];
  const info = mainOnly ? (main.length === 0 ? undefined : pick(random, main)) : someValueInfo(model, random);
  const dims = info === undefined ? undefined : tensorDims(info);
  if (dims === undefined || dims.length === 0) return false;
  const dim = random.next() < 0.6 ? dims[0]! : pick(random, dims);
  dim.value = { case: 'dimValue', value: pick(random, values) };
  return true;
}

const structure: Mutation[] = [
  {
    name: 'dangling input',
    apply: (model, random) => {
      const node = someNode(model, random);
      if (node === undefined || node.input.length === 0) return false;
      node.input[random.int(0, node.input.length - 1)] = `dangling_${random.int(0, 99)}`;
      return true;
    },
  },
  {
    name: 'cycle',
    apply: (model, random) => {
      const graph = someGraph(model, random);
      if (graph === undefined || graph.node.length === 0) return false;
      const i = random.int(0, graph.node.length - 1);
      const j = random.int(i, graph.node.length - 1); // j === i: a node that reads its own output
      const later = graph.node[j]!;
      const earlier = graph.node[i]!;
      if (later.output.length === 0) return false;
      const back = later.output[0]!;
      if (earlier.input.length === 0) earlier.input.push(back);
      else earlier.input[random.int(0, earlier.input.length - 1)] = back;
      return true;
    },
  },
  {
    name: 'nodes out of order',
    apply: (model, random) => {
      const graph = someGraph(model, random);
      if (graph === undefined || graph.node.length < 2) return false;
      if (random.next() < 0.5) graph.node.reverse();
      else graph.node.push(graph.node.shift()!);
      return true;
    },
  },
  {
    name: 'two producers of one value',
    apply: (model, random) => {
      const graph = someGraph(model, random);
      if (graph === undefined || graph.node.length < 2) return false;
      const a = pick(random, graph.node);
      const b = pick(random, graph.node);
      if (a === b || a.output.length === 0 || b.output.length === 0) return false;
      b.output[0] = a.output[0]!;
      return true;
    },
  },
  {
    name: 'node writes a graph input',
    apply: (model, random) => {
      const graph = someGraph(model, random);
      if (graph === undefined || graph.node.length === 0 || graph.input.length === 0) return false;
      pick(random, graph.node).output[0] = pick(random, graph.input).name;
      return true;
    },
  },
  {
    name: 'duplicate node name',
    apply: (model, random) => {
      const graph = someGraph(model, random);
      if (graph === undefined || graph.node.length < 2) return false;
      for (const node of graph.node) node.name = 'same';
      return true;
    },
  },
  {
    name: 'duplicate graph input, output or weight',
    apply: (model, random) => {
      const graph = model.graph;
      if (graph === undefined) return false;
      const which = random.int(0, 3);
      if (which === 3) {
        if (graph.initializer.length === 0) return false;
        const weight = pick(random, graph.initializer);
        if (random.next() < 0.5) graph.initializer.push(weight);
        else if (graph.input.length > 0) weight.name = pick(random, graph.input).name;
        return true;
      }
      const list = which === 0 ? graph.input : graph.output;
      if (list.length === 0) return false;
      list.push(pick(random, list));
      return true;
    },
  },
  {
    name: 'output nothing produces',
    apply: (model, random) => {
      const graph = model.graph;
      if (graph === undefined || graph.output.length === 0) return false;
      pick(random, graph.output).name = random.next() < 0.5 ? '' : 'produced_by_nobody';
      return true;
    },
  },
  {
    name: 'output is an input or a weight',
    apply: (model, random) => {
      const graph = model.graph;
      if (graph === undefined || graph.output.length === 0) return false;
      const names = [...graph.input.map((i) => i.name), ...graph.initializer.map((t) => t.name)];
      if (names.length === 0) return false;
      pick(random, graph.output).name = pick(random, names);
      return true;
    },
  },
  {
    name: 'no inputs, outputs or nodes',
    apply: (model, random) => {
      const graph = someGraph(model, random);
      if (graph === undefined) return false;
      const which = random.int(0, 3);
      if (which === 0) graph.input = [];
      else if (which === 1) graph.output = [];
      else if (which === 2) graph.node = [];
      else graph.initializer = [];
      return true;
    },
  },
  {
    name: 'empty names',
    apply: (model, random) => {
      const node = someNode(model, random);
      if (node === undefined) return false;
      if (node.output.length > 0 && random.next() < 0.5) node.output[0] = '';
      else if (node.input.length > 0) node.input[0] = '';
      else node.opType = '';
      return true;
    },
  },
  {
    name: 'bad fixed dim',
    apply: (model, random) => setDim(model, random, fileDims),
  },
  {
    name: 'dim past int64',
    inMemoryOnly: true,
    // On the graph's inputs and outputs, which the rewrite computes with; elsewhere only the encoder sees them.
    apply: (model, random) => setDim(model, random, bigDims, true),
  },
  {
    name: 'bad shape',
    apply: (model, random) => {
      const info = someValueInfo(model, random);
      if (info?.type?.value.case !== 'tensorType') return false;
      const tensor = info.type.value.value;
      const which = random.int(0, 4);
      if (which === 0) delete tensor.shape;
      else if (tensor.shape === undefined) return false;
      else if (which === 1) tensor.shape.dim = [];
      else if (which === 2) tensor.shape.dim.push(create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: pick(random, fileDims) } }));
      else if (which === 3) for (const d of tensor.shape.dim) d.value = { case: 'dimParam', value: pick(random, ['', 'batch', 'N', 'seq', 'ŧ']) };
      else for (const d of tensor.shape.dim) d.value = { case: undefined };
      return true;
    },
  },
  {
    name: 'bad element type',
    apply: (model, random) => {
      if (random.next() < 0.7) {
        const info = someValueInfo(model, random);
        if (info?.type?.value.case !== 'tensorType') return false;
        info.type.value.value.elemType = pick(random, elemTypes);
      } else {
        const tensor = someTensor(model, random);
        if (tensor === undefined) return false;
        tensor.dataType = pick(random, elemTypes);
      }
      return true;
    },
  },
  {
    name: 'bad value type',
    apply: (model, random) => {
      const info = someValueInfo(model, random);
      if (info === undefined) return false;
      const which = random.int(0, 2);
      if (which === 0) delete info.type;
      else if (which === 1) info.type = create(TypeProtoSchema, {});
      else info.type = create(TypeProtoSchema, { value: { case: 'sequenceType', value: create(TypeProto_SequenceSchema, info.type === undefined ? {} : { elemType: info.type }) } });
      return true;
    },
  },
  {
    name: 'bad tensor dims',
    apply: (model, random) => {
      const tensor = someTensor(model, random);
      if (tensor === undefined) return false;
      if (tensor.dims.length === 0 || random.next() < 0.3) tensor.dims.push(pick(random, fileDims));
      else tensor.dims[random.int(0, tensor.dims.length - 1)] = pick(random, fileDims);
      return true;
    },
  },
  {
    name: 'attribute type disagrees with its field',
    apply: (model, random) => {
      const nodes = graphsOf(model).flatMap((g) => g.node).filter((n) => n.attribute.length > 0);
      if (nodes.length === 0) return false;
      const attribute = pick(random, pick(random, nodes).attribute);
      // Known types other than its own, and codes that are no type (a file keeps those as unknown fields).
      attribute.type = pick(random, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 99, -1]) as AttributeProto_AttributeType;
      return true;
    },
  },
  {
    name: 'Constant with a wrong attribute',
    apply: (model, random) => {
      const constants = graphsOf(model).flatMap((g) => g.node).filter((n) => n.opType === 'Constant');
      const node = constants.length > 0 ? pick(random, constants) : someNode(model, random);
      if (node === undefined) return false;
      node.opType = 'Constant';
      node.domain = '';
      const T = AttributeProto_AttributeType;
      const name = pick(random, ['value', 'value_float', 'value_floats', 'value_int', 'value_ints', 'value_string', 'value_strings', 'sparse_value', 'other']);
      const type = pick(random, [T.UNDEFINED, T.FLOAT, T.INT, T.STRING, T.TENSOR, T.GRAPH, T.FLOATS, T.INTS, T.STRINGS, T.SPARSE_TENSOR]);
      const attribute = create(AttributeProtoSchema, { name, type });
      if (random.next() < 0.5) attribute.ints = [INT64_MAX, INT64_MIN, 0n];
      if (random.next() < 0.5) attribute.f = Number.NaN;
      node.attribute = random.next() < 0.2 ? [] : random.next() < 0.2 ? [attribute, attribute] : [attribute];
      return true;
    },
  },
  {
    name: 'graph attribute missing',
    apply: (model, random) => {
      const holders = graphsOf(model).flatMap((g) => g.node).filter((n) => n.attribute.some((a) => a.g !== undefined || a.graphs.length > 0));
      if (holders.length === 0) return false;
      const node = pick(random, holders);
      const which = random.int(0, 3);
      if (which === 0) node.attribute = node.attribute.filter((a) => a.g === undefined);
      else if (which === 1) for (const a of node.attribute) delete a.g;
      else if (which === 2) for (const a of node.attribute) a.g = create(GraphProtoSchema, { name: 'empty' });
      else for (const a of node.attribute) if (a.g !== undefined) a.name = 'not_a_branch';
      return true;
    },
  },
  {
    name: 'control flow without its body',
    apply: (model, random) => {
      const node = nodeTurnedInto(model, random, ['If', 'Loop', 'Scan']);
      if (node !== undefined && random.next() < 0.5) node.attribute = [];
      return node !== undefined;
    },
  },
  {
    name: 'subgraphs nested too deep',
    apply: (model, random) => {
      if (model.graph === undefined) return false;
      const depth = pick(random, [2, 8, 20, 24, 25, 31, 40]);
      let inner = model.graph;
      for (let k = 0; k < depth; k++) {
        // The else branch returns the outer values by name: one body per level, not a tree of them.
        const otherwise = create(GraphProtoSchema, { name: `else${k}`, output: inner.output });
        const holder = makeNode('If', ['cond'], inner.output.map((o) => o.name), { then_branch: inner, else_branch: otherwise });
        inner = create(GraphProtoSchema, { name: `level${k}`, node: [holder], input: inner.input, output: inner.output });
      }
      model.graph = inner;
      return true;
    },
  },
  {
    name: 'graph that contains itself',
    inMemoryOnly: true,
    apply: (model, random) => {
      const graph = someGraph(model, random);
      const node = someNode(model, random);
      if (graph === undefined || node === undefined) return false;
      node.attribute.push(create(AttributeProtoSchema, { name: 'body', type: AttributeProto_AttributeType.GRAPH, g: graph }));
      return true;
    },
  },
  {
    name: 'LSTM with a bad layout',
    apply: (model, random) => {
      const node = nodeTurnedInto(model, random, ['LSTM', 'GRU', 'RNN']);
      if (node !== undefined) node.attribute = [create(AttributeProtoSchema, { name: 'layout', type: AttributeProto_AttributeType.INT, i: pick(random, [0n, 1n, 2n, -1n, INT64_MAX]) })];
      return node !== undefined;
    },
  },
  {
    name: 'bad sparse initializer',
    apply: (model, random) => {
      const graph = someGraph(model, random);
      if (graph === undefined) return false;
      const tensor = graph.initializer.length > 0 && random.next() < 0.7 ? graph.initializer.splice(random.int(0, graph.initializer.length - 1), 1)[0] : undefined;
      const indices = random.next() < 0.5 ? undefined : create(TensorProtoSchema, { name: 'indices', dataType: 7, dims: [pick(random, fileDims)] });
      graph.sparseInitializer.push(create(SparseTensorProtoSchema, { ...(tensor === undefined ? {} : { values: tensor }), ...(indices === undefined ? {} : { indices }), dims: [pick(random, fileDims), 2n] }));
      return true;
    },
  },
  {
    name: 'training graphs',
    apply: (model, random) => {
      if (model.graph === undefined) return false;
      const which = random.int(0, 2);
      const other = which === 0 ? model.graph : which === 1 ? create(GraphProtoSchema, { name: 'empty' }) : undefined;
      model.trainingInfo.push(create(TrainingInfoProtoSchema, other === undefined ? {} : { initialization: other, algorithm: other }));
      return true;
    },
  },
  {
    name: 'model without a graph',
    apply: (model) => {
      delete model.graph;
      return true;
    },
  },
  {
    name: 'bad opset import',
    apply: (model, random) => {
      const which = random.int(0, 4);
      const defaults = model.opsetImport.filter((o) => o.domain === '' || o.domain === 'ai.onnx');
      if (which === 0) model.opsetImport = model.opsetImport.filter((o) => !defaults.includes(o));
      else if (which === 1 && defaults.length > 0) defaults[0]!.version = pick(random, opsetVersions);
      else if (which === 2) model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: pick(random, ['', 'ai.onnx']), version: pick(random, opsetVersions) }));
      else if (which === 3) model.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.example', version: pick(random, opsetVersions) }));
      else model.opsetImport = [];
      return true;
    },
  },
  {
    name: 'bad IR version',
    apply: (model, random) => {
      model.irVersion = pick(random, [0n, -1n, 1n, 2n, 3n, 4n, 9n, 10n, 12n, 1n << 40n, INT64_MAX, INT64_MIN]);
      return true;
    },
  },
  {
    name: 'bad external data reference',
    apply: (model, random) => {
      const tensor = someTensor(model, random);
      if (tensor === undefined) return false;
      tensor.dataLocation = random.next() < 0.9 ? TensorProto_DataLocation.EXTERNAL : (7 as TensorProto_DataLocation);
      const entry = (key: string, value: string): StringStringEntryProto => create(StringStringEntryProtoSchema, { key, value });
      const location = pick(random, ['', 'weights.bin', '../outside.bin', '/etc/passwd', 'C:/w.bin', 'sub/../../x']);
      const number = (): string => pick(random, ['0', '12', '-5', 'abc', '1e99', '', ' 7', '0x10', '99999999999999999999999', '9007199254740993', '3.5']);
      tensor.externalData = [entry('location', location)];
      if (random.next() < 0.6) tensor.externalData.push(entry('offset', number()));
      if (random.next() < 0.6) tensor.externalData.push(entry('length', number()));
      if (random.next() < 0.2) tensor.externalData.push(entry('location', 'second.bin'));
      return true;
    },
  },
  {
    name: 'bad device configuration',
    apply: (model, random) => {
      const node = someNode(model, random);
      if (node === undefined) return false;
      node.metadataProps.push(create(StringStringEntryProtoSchema, { key: pick(random, ['device', 'replica']), value: pick(random, ['', 'cuda:999999999999', 'tpu:0']) }));
      model.configuration.push(create(DeviceConfigurationProtoSchema, { name: 'onnx_parallelize', numDevices: pick(random, [-1, 0, 0x7fffffff]), device: random.next() < 0.5 ? [] : ['cuda:0'] }));
      return true;
    },
  },
];

/** Plans in the model's metadata: damaged JSON, wrong shapes, missing fields, values out of range. */
function planVariants(plan: Record<string, unknown>, random: SeededRandom): string {
  const json = JSON.stringify(plan);
  const inputs = plan['inputs'] as Array<Record<string, unknown>>;
  const outputs = plan['outputs'] as Array<Record<string, unknown>>;
  const edit = (change: (p: Record<string, unknown>) => void): string => {
    const copy = JSON.parse(json) as Record<string, unknown>;
    change(copy);
    return JSON.stringify(copy);
  };
  const junk = (): unknown => pick(random, [null, undefined, 0, -1, 1.5, 2 ** 62, 'x', '', [], {}, [null], { a: 1 }, true, Number.MAX_SAFE_INTEGER + 2]);
  const field = (p: Record<string, unknown>, list: string): Record<string, unknown> | undefined => {
    const items = p[list] as Array<Record<string, unknown>>;
    return items.length === 0 ? undefined : pick(random, items);
  };
  switch (random.int(0, 9)) {
    case 0:
      return json.slice(0, random.int(0, json.length - 1));
    case 1:
      return pick(random, ['', 'null', '[]', '1', '"plan"', 'true', '{}', '{"version":1}', '{"version":2}', '{"version":"1"}', 'NaN', '{"__proto__":{"version":1}}']);
    case 2:
      return edit((p) => {
        delete p[pick(random, ['version', 'devices', 'weights', 'inputs', 'outputs'])];
      });
    case 3:
      return edit((p) => {
        p[pick(random, ['version', 'devices', 'weights', 'inputs', 'outputs'])] = junk();
      });
    case 4:
      return edit((p) => {
        const item = field(p, random.next() < 0.5 ? 'inputs' : 'outputs');
        if (item !== undefined) item[pick(random, ['name', 'axis', 'fixedBatch', 'parts', 'combine'])] = junk();
      });
    case 5:
      return edit((p) => {
        const item = field(p, random.next() < 0.5 ? 'inputs' : 'outputs');
        if (item !== undefined) delete item[pick(random, ['name', 'axis', 'fixedBatch', 'parts', 'combine'])];
      });
    case 6:
      return edit((p) => {
        (p['weights'] as unknown[]).push(junk());
        if (random.next() < 0.5) (p['devices'] as unknown[]).push(pick(random, ['cuda:9', 'tpu:0', 7]));
      });
    case 7:
      return edit((p) => {
        const item = field(p, 'inputs') ?? field(p, 'outputs');
        if (item !== undefined) item['parts'] = random.next() < 0.5 ? [] : [...(item['parts'] as string[]), 'extra'];
      });
    case 8:
      return edit((p) => {
        const list = p[random.next() < 0.5 ? 'inputs' : 'outputs'] as unknown[];
        if (random.next() < 0.5) list.push(junk());
        else list.splice(0, 1);
      });
    default:
      return edit((p) => {
        const item = inputs.length > 0 && random.next() < 0.5 ? field(p, 'inputs') : outputs.length > 0 ? field(p, 'outputs') : undefined;
        if (item !== undefined) item['name'] = pick(random, ['missing', '', 'y', 'x']);
      });
  }
}

/** Mutations of a rewritten model (one that has a plan). */
export const planMutation: Mutation = {
  name: 'bad execution plan',
  apply: (model, random) => {
    const entry = model.metadataProps.find((p) => p.key === PLAN_KEY);
    if (entry === undefined) return false;
    entry.value = planVariants(JSON.parse(entry.value) as Record<string, unknown>, random);
    return true;
  },
};

export const structureMutations: readonly Mutation[] = structure;

/** Damage to the bytes of an encoded model: cut short, bits flipped, bytes overwritten, a run repeated. */
export function mutateBytes(bytes: Uint8Array, random: SeededRandom): { name: string; bytes: Uint8Array } {
  const out = Uint8Array.from(bytes);
  switch (random.int(0, 3)) {
    case 0:
      return { name: 'truncated', bytes: out.subarray(0, random.int(0, Math.max(0, out.length - 1))) };
    case 1: {
      const flips = random.int(1, 8);
      for (let k = 0; k < flips; k++) out[random.int(0, out.length - 1)]! ^= 1 << random.int(0, 7);
      return { name: 'bits flipped', bytes: out };
    }
    case 2: {
      const at = random.int(0, out.length - 1);
      for (let k = at; k < Math.min(out.length, at + random.int(1, 16)); k++) out[k] = random.int(0, 255);
      return { name: 'bytes overwritten', bytes: out };
    }
    default: {
      const start = random.int(0, out.length - 1);
      const end = Math.min(out.length, start + random.int(1, 64));
      const at = random.int(0, out.length);
      const repeated = new Uint8Array(out.length + end - start);
      repeated.set(out.subarray(0, at));
      repeated.set(out.subarray(start, end), at);
      repeated.set(out.subarray(at), at + end - start);
      return { name: 'bytes repeated', bytes: repeated };
    }
  }
}
