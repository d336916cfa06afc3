/**
 * What the rewrite needs of a graph, checked before it starts, so that a damaged model is refused with an error
 * that names the value instead of being rewritten into a model that no runtime loads: graph inputs and outputs
 * with distinct names and dims a tensor can have, one producer per value in every graph (bodies included), and
 * the bodies that If, Loop and Scan cannot do without.
 */
import type { GraphProto, NodeProto } from '../onnx.js';
import { InputError } from '../errors.js';
import { checkDims, describeNode, isDefaultDomain } from '../graph/types.js';
import { forEachGraph } from '../graph/walk.js';

/** The graph attributes each control-flow operator of the default domain must have. */
const REQUIRED_BODIES: Readonly<Record<string, readonly string[]>> = { If: ['then_branch', 'else_branch'], Loop: ['body'], Scan: ['body'] };

/** The main graph's inputs and outputs: named, each name once, with dims a tensor can have. */
function checkGraphValues(graph: GraphProto): void {
  for (const [kind, infos] of [['input', graph.input], ['output', graph.output]] as const) {
    const seen = new Set<string>();
    for (const info of infos) {
      if (info.name === '') throw new InputError(`the graph has an ${kind} without a name; fix the model`);
      if (seen.has(info.name)) throw new InputError(`${kind} '${info.name}' is listed twice among the graph's ${kind}s; fix the model`);
      seen.add(info.name);
      checkDims(info, kind);
    }
  }
}

/** In one graph: every value has one producer, no node writes a graph input, control flow has its bodies. */
function checkNodes(graph: GraphProto): void {
  const inputs = new Set(graph.input.map((i) => i.name));
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) {
    for (const output of node.output) {
      if (output === '') continue;
      if (inputs.has(output)) throw new InputError(`${describeNode(node)} writes '${output}', an input of graph '${graph.name}'; a value has one producer`);
      const other = producers.get(output);
      if (other === node) throw new InputError(`${describeNode(node)} writes '${output}' twice; a value has one producer`);
      if (other !== undefined) throw new InputError(`value '${output}' is written by two nodes, ${describeNode(other)} and ${describeNode(node)}; a value has one producer`);
      producers.set(output, node);
    }
    const bodies = isDefaultDomain(node.domain) ? REQUIRED_BODIES[node.opType] : undefined;
    for (const name of bodies ?? []) {
      if (node.attribute.find((a) => a.name === name)?.g === undefined) throw new InputError(`${describeNode(node)} has no ${name} graph; the model is damaged`);
    }
  }
}

export function checkGraphForRewrite(graph: GraphProto): void {
  checkGraphValues(graph);
  forEachGraph(graph, checkNodes);
}
