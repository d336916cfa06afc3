/**
 * The model one device runs: the nodes of one replica of a rewritten model, found by walking back from that
 * replica's outputs to the parts the host feeds it, with the initializers and shared inputs they read.
 */
import { clone } from '@bufbuild/protobuf';
import { ValueInfoProtoSchema, type GraphProto, type ModelProto, type NodeProto, type ValueInfoProto } from '../../onnx.js';
import { withFields } from '../../graph/copy.js';
import { subgraphsOf } from '../../graph/walk.js';
import type { ExecutionPlan } from '../../transform/plan.js';
import { ArgumentError } from '../../errors.js';

/** Names a node reads: its inputs and the outer-scope values its bodies use. */
export function namesRead(node: NodeProto): string[] {
  const read = node.input.filter((n) => n !== '');
  for (const { graph } of subgraphsOf(node)) read.push(...outerNamesOf(graph));
  return read;
}

function outerNamesOf(graph: GraphProto): string[] {
  const defined = new Set<string>([...graph.input.map((i) => i.name), ...graph.initializer.map((t) => t.name)]);
  const outer: string[] = [];
  for (const node of graph.node) {
    for (const name of namesRead(node)) if (!defined.has(name)) outer.push(name);
    for (const output of node.output) defined.add(output);
  }
  for (const output of graph.output) if (!defined.has(output.name)) outer.push(output.name);
  return outer;
}

/** A value info for `name` shaped like `like`, with a symbolic dim at `axis` (each device gets its own share). */
function renamedInfo(like: ValueInfoProto, name: string, axis: number | null): ValueInfoProto {
  const info = clone(ValueInfoProtoSchema, like);
  info.name = name;
  const tensor = info.type?.value.case === 'tensorType' ? info.type.value.value : undefined;
  const dim = axis === null ? undefined : tensor?.shape?.dim[axis];
  if (dim !== undefined) dim.value = { case: 'dimParam', value: 'device_batch' };
  return info;
}

export function replicaModel(model: ModelProto, plan: ExecutionPlan, replica: number): ModelProto {
  const graph = model.graph!;
  const producer = new Map<string, NodeProto>();
  for (const node of graph.node) for (const output of node.output) producer.set(output, node);
  const initializers = new Map(graph.initializer.map((t) => [t.name, t] as const));
  const sparse = new Map(graph.sparseInitializer.map((s) => [s.values?.name ?? '', s] as const));
  const graphInputs = new Map(graph.input.map((i) => [i.name, i] as const));
  const partInputs = new Map<string, ValueInfoProto>();
  for (const input of plan.inputs) {
    if (input.axis !== null) partInputs.set(input.parts[replica]!, renamedInfo(graphInputs.get(input.name)!, input.parts[replica]!, input.axis));
  }

  const needed = new Set<NodeProto>();
  const usedInputs = new Map<string, ValueInfoProto>();
  const usedInitializers = new Set<string>();
  const pending = plan.outputs.map((o) => o.parts[replica]!);
  const seen = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const part = partInputs.get(name);
    if (part !== undefined) usedInputs.set(name, part);
    else if (initializers.has(name) || sparse.has(name)) usedInitializers.add(name);
    else if (graphInputs.has(name)) usedInputs.set(name, graphInputs.get(name)!);
    else {
      const node = producer.get(name);
      if (node === undefined) throw new ArgumentError(`model: replica ${replica} reads '${name}', which nothing produces`);
      if (!needed.has(node)) {
        needed.add(node);
        pending.push(...namesRead(node));
      }
    }
  }
  const inputOrder = [...plan.inputs.filter((i) => i.axis !== null).map((i) => i.parts[replica]!), ...graph.input.map((i) => i.name)];
  // Outputs keep their element type only: a replica's share has its own shape, which onnxruntime infers.
  const outputInfos = plan.outputs.map((o) => {
    const info = renamedInfo(graph.output.find((g) => g.name === o.name)!, o.parts[replica]!, null);
    if (info.type?.value.case === 'tensorType') delete info.type.value.value.shape;
    return info;
  });
  const subgraph = withFields(graph, {
    node: graph.node.filter((n) => needed.has(n)),
    input: inputOrder.filter((n, i) => usedInputs.has(n) && inputOrder.indexOf(n) === i).map((n) => usedInputs.get(n)!),
    output: outputInfos,
    initializer: graph.initializer.filter((t) => usedInitializers.has(t.name)),
    sparseInitializer: graph.sparseInitializer.filter((s) => usedInitializers.has(s.values?.name ?? '')),
    valueInfo: graph.valueInfo.filter((v) => seen.has(v.name)),
  });
  return withFields(model, { graph: subgraph });
}
