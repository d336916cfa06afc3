/** The default-domain opset of a model, and raising it where no operator the model uses changes. */
import { create } from '@bufbuild/protobuf';
import { withFields } from '../graph/copy.js';
import { OperatorSetIdProtoSchema, type ModelProto, type OperatorSetIdProto } from '../onnx.js';
import { forEachGraph } from '../graph/walk.js';
import { isDefaultDomain } from '../graph/types.js';
import { opSchemaVersionsUpTo10 } from './op-history.js';

export function defaultOpset(model: ModelProto): number | undefined {
  const entry = model.opsetImport.find((o) => isDefaultDomain(o.domain));
  return entry === undefined ? undefined : Number(entry.version);
}

/** The first operator of the model whose schema changes between `from` (exclusive) and `to` (inclusive). */
export function opChangingBetween(model: ModelProto, from: number, to: number): { op: string; version: number } | undefined {
  let found: { op: string; version: number } | undefined;
  forEachGraph(model.graph!, (graph) => {
    for (const node of graph.node) {
      if (found !== undefined || !isDefaultDomain(node.domain)) continue;
      const versions = opSchemaVersionsUpTo10[node.opType];
      if (versions === undefined) {
        found = { op: node.opType, version: NaN };
        continue;
      }
      const change = versions.find((v) => v > from && v <= to);
      if (change !== undefined) found = { op: node.opType, version: change };
    }
  });
  return found;
}

/** The model's opset imports with the default domain at `version` (added when missing). */
export function withDefaultOpset(imports: OperatorSetIdProto[], version: number): OperatorSetIdProto[] {
  const others = imports.filter((o) => !isDefaultDomain(o.domain));
  const current = imports.find((o) => isDefaultDomain(o.domain));
  const entry = current === undefined ? create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(version) }) : withFields(current, { version: BigInt(version) });
  return current === undefined ? [...others, entry] : imports.map((o) => (o === current ? entry : o));
}
