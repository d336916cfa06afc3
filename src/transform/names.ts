/** Fresh, unique names for values and nodes added to a model. */
import type { GraphProto, ModelProto } from '../onnx.js';
import { forEachGraph } from '../graph/walk.js';

export class NameAllocator {
  private readonly taken = new Set<string>();

  constructor(model: ModelProto) {
    forEachGraph(model.graph!, (graph: GraphProto) => {
      for (const list of [graph.input, graph.output, graph.valueInfo]) for (const v of list) this.taken.add(v.name);
      for (const t of graph.initializer) this.taken.add(t.name);
      for (const s of graph.sparseInitializer) if (s.values !== undefined) this.taken.add(s.values.name);
      for (const node of graph.node) {
        this.taken.add(node.name);
        // Inputs are not added: each names a graph input, an initializer or an output of a node in this or an
        // outer graph, all added already.
        for (const name of node.output) this.taken.add(name);
      }
    });
  }

  has(name: string): boolean {
    return this.taken.has(name);
  }

  /** Reserves `wanted`, or `wanted_2`, `wanted_3`, ... if taken. */
  fresh(wanted: string): string {
    let name = wanted;
    for (let k = 2; this.taken.has(name); k++) name = `${wanted}_${k}`;
    this.taken.add(name);
    return name;
  }

  /** A stem such that no existing name starts with `${stem}<digits>/`: replica i's names are `${stem}${i}/...`. */
  freshReplicaStem(wanted: string): string {
    for (let stem = wanted; ; stem += '_') {
      const pattern = new RegExp(`^${stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d+/`);
      if (![...this.taken].some((name) => pattern.test(name))) return stem;
    }
  }
}
