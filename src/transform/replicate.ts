/**
 * One replica of the graph: every node cloned with its names prefixed (`replica{i}/`), bodies of If, Loop and
 * Scan included, with references resolved through a chain of scopes so outer-scope values stay right.
 * Shared values (initializers, hoisted constants, unbatched inputs) keep their names.
 */
import { clone } from '@bufbuild/protobuf';
import { ValueInfoProtoSchema, type AttributeProto, type GraphProto, type NodeProto, type ValueInfoProto } from '../onnx.js';
import { makeNode } from '../graph/build.js';
import { withFields } from '../graph/copy.js';
import type { HoistPlan } from './hoist.js';
import type { DeviceTagger } from './tags.js';

export class Scope {
  private readonly names = new Map<string, string>();
  constructor(private readonly parent?: Scope) {}

  define(original: string, renamed: string): void {
    this.names.set(original, renamed);
  }

  /** The name a reference resolves to; names defined nowhere are shared and keep their name. */
  resolve(original: string): string {
    if (original === '') return original;
    return this.names.get(original) ?? this.parent?.resolve(original) ?? original;
  }
}

export interface Replica {
  prefix: string;
  hoisting: HoistPlan;
  /** Builds the replica's nodes, tagged with its device. */
  tagger: DeviceTagger;
}

/** A value info renamed for a replica; symbolic dims are renamed too, since each replica has its own batch. */
export function renameValueInfo(info: ValueInfoProto, name: string, prefix: string): ValueInfoProto {
  const copy = clone(ValueInfoProtoSchema, info);
  copy.name = name;
  const value = copy.type?.value;
  if (value?.case === 'tensorType') {
    for (const dim of value.value.shape?.dim ?? []) {
      if (dim.value.case === 'dimParam') dim.value = { case: 'dimParam', value: `${prefix}${dim.value.value}` };
    }
  }
  return copy;
}

function cloneAttribute(attribute: AttributeProto, scope: Scope, replica: Replica): AttributeProto {
  if (attribute.g === undefined && attribute.graphs.length === 0) return attribute;
  const copy = withFields(attribute, {});
  if (attribute.g !== undefined) copy.g = cloneSubgraph(attribute.g, scope, replica);
  if (attribute.graphs.length > 0) copy.graphs = attribute.graphs.map((g) => cloneSubgraph(g, scope, replica));
  return copy;
}

/**
 * Clones a list of nodes into `scope`, defining their outputs; hoisted Constant nodes are left out. Every output
 * is defined before any input is resolved: onnxruntime sorts the nodes itself, so a model may list a node
 * before the one that computes its input.
 */
export function cloneNodes(nodes: NodeProto[], scope: Scope, replica: Replica): NodeProto[] {
  const kept = nodes.filter((node) => !replica.hoisting.skipped.has(node));
  const outputsOf = kept.map((node) =>
    node.output.map((name) => {
      if (name === '') return name;
      const renamed = replica.prefix + name;
      scope.define(name, renamed);
      return renamed;
    }),
  );
  return kept.map((node, k) => {
    const inputs = node.input.map((name) => scope.resolve(name));
    const attribute = node.attribute.some((a) => a.g !== undefined || a.graphs.length > 0) ? node.attribute.map((a) => cloneAttribute(a, scope, replica)) : node.attribute;
    const name = Object.hasOwn(node, 'name') ? (node.name === '' ? '' : replica.prefix + node.name) : undefined;
    return replica.tagger.replicaNode(node, inputs, outputsOf[k]!, name, attribute);
  });
}

function cloneSubgraph(graph: GraphProto, parent: Scope, replica: Replica): GraphProto {
  const scope = new Scope(parent);
  for (const [original, shared] of replica.hoisting.renames.get(graph) ?? []) scope.define(original, shared);
  const input = graph.input.map((info) => {
    const renamed = replica.prefix + info.name;
    scope.define(info.name, renamed);
    return renameValueInfo(info, renamed, replica.prefix);
  });
  const locals = new Set(input.map((i) => i.name));
  const node = cloneNodes(graph.node, scope, replica);
  for (const n of node) for (const o of n.output) locals.add(o);
  const output = graph.output.map((info) => {
    const resolved = scope.resolve(info.name);
    if (locals.has(resolved)) return renameValueInfo(info, resolved, replica.prefix);
    // The body returns a value it does not compute (an outer or hoisted value): copy it in with an Identity.
    const local = replica.prefix + info.name;
    const identity = makeNode('Identity', [resolved], [local], {}, { name: `${local}/identity` });
    node.push(replica.tagger.replicaNode(identity, identity.input, identity.output, identity.name, identity.attribute));
    return renameValueInfo(info, local, replica.prefix);
  });
  const valueInfo = graph.valueInfo.filter((info) => locals.has(scope.resolve(info.name))).map((info) => renameValueInfo(info, scope.resolve(info.name), replica.prefix));
  return withFields(graph, { name: replica.prefix + graph.name, input, output, node, valueInfo, initializer: [], sparseInitializer: [] });
}
