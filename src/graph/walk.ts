/** Visitors over every graph and tensor of a model, subgraphs and functions included. */
import { type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type SparseTensorProto, type TensorProto } from '../onnx.js';
import { InputError } from '../errors.js';

/**
 * How deep subgraphs may nest. Decoding stops at 100 nested messages, three per level of subgraphs and up to
 * seven more inside the deepest graph: this leaves room for that, so what is read and written here decodes
 * again. Only a message object can go deeper, and one that contains itself would never end.
 */
export const MAX_SUBGRAPH_DEPTH = 24;

/** The subgraphs held by a node's attributes (If branches, Loop and Scan bodies, ...). */
export function subgraphsOf(node: NodeProto): Array<{ attribute: AttributeProto; graph: GraphProto }> {
  const found: Array<{ attribute: AttributeProto; graph: GraphProto }> = [];
  for (const attribute of node.attribute) {
    if (attribute.g !== undefined) found.push({ attribute, graph: attribute.g });
    for (const graph of attribute.graphs) found.push({ attribute, graph });
  }
  return found;
}

/** Calls `visit` for `graph` and then for every graph nested in its nodes, depth first. */
export function forEachGraph(graph: GraphProto, visit: (graph: GraphProto, depth: number) => void, depth = 0): void {
  if (depth > MAX_SUBGRAPH_DEPTH) {
    throw new InputError(`graph '${graph.name}' is nested more than ${MAX_SUBGRAPH_DEPTH} subgraphs deep (If, Loop and Scan bodies); a graph cannot contain itself`);
  }
  visit(graph, depth);
  for (const node of graph.node) {
    // Not subgraphsOf(): this runs for every node of the model, and most have no subgraph.
    for (const attribute of node.attribute) {
      if (attribute.g !== undefined) forEachGraph(attribute.g, visit, depth + 1);
      for (const subgraph of attribute.graphs) forEachGraph(subgraph, visit, depth + 1);
    }
  }
}

/** Every list of nodes in the model: the main graph, subgraphs, local functions and training graphs. */
export function forEachNodeList(model: ModelProto, visit: (nodes: NodeProto[]) => void): void {
  const graphs: GraphProto[] = [];
  if (model.graph !== undefined) graphs.push(model.graph);
  for (const info of model.trainingInfo) {
    if (info.initialization !== undefined) graphs.push(info.initialization);
    if (info.algorithm !== undefined) graphs.push(info.algorithm);
  }
  for (const root of graphs) forEachGraph(root, (graph) => visit(graph.node));
  for (const fn of model.functions) {
    visit(fn.node);
    for (const node of fn.node) for (const { graph } of subgraphsOf(node)) forEachGraph(graph, (g) => visit(g.node));
  }
}

function forEachSparse(sparse: SparseTensorProto, visit: (tensor: TensorProto) => void): void {
  if (sparse.values !== undefined) visit(sparse.values);
  if (sparse.indices !== undefined) visit(sparse.indices);
}

/** Every TensorProto of the model: initializers, sparse initializers and tensors in node attributes. */
export function forEachTensor(model: ModelProto, visit: (tensor: TensorProto) => void): void {
  const visitGraphTensors = (graph: GraphProto): void => {
    graph.initializer.forEach((tensor) => visit(tensor));
    graph.sparseInitializer.forEach((sparse) => forEachSparse(sparse, visit));
  };
  const roots: GraphProto[] = [];
  if (model.graph !== undefined) roots.push(model.graph);
  for (const info of model.trainingInfo) {
    if (info.initialization !== undefined) roots.push(info.initialization);
    if (info.algorithm !== undefined) roots.push(info.algorithm);
  }
  for (const root of roots) forEachGraph(root, visitGraphTensors);
  forEachNodeList(model, (nodes) => {
    for (const node of nodes) {
      for (const attribute of node.attribute) {
        if (attribute.t !== undefined) visit(attribute.t);
        attribute.tensors.forEach((tensor) => visit(tensor));
        if (attribute.sparseTensor !== undefined) forEachSparse(attribute.sparseTensor, visit);
        attribute.sparseTensors.forEach((sparse) => forEachSparse(sparse, visit));
      }
    }
  });
}
