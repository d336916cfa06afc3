/** The default-domain opset of a model, and raising it where no operator the model uses changes. */
import { create } from '@bufbuild/protobuf';
import { withFields } from '../graph/copy.js';
import { OperatorSetIdProtoSchema, type ModelProto, type OperatorSetIdProto } from '../onnx.js';
import { forEachGraph } from '../graph/walk.js';
import { isDefaultDomain } from '../graph/types.js';
import { MAX_VERSION } from '../graph/model.js';
import { InputError } from '../errors.js';
import { opSchemaVersionsUpTo10 } from './op-history.js';

export function defaultOpset(model: ModelProto): number | undefined {
  const entry = model.opsetImport.find((o) => isDefaultDomain(o.domain));
  return entry === undefined ? undefined : Number(entry.version);
}

/** The default-domain opset, refused when it is no opset (below 1, beyond MAX_VERSION) or imported twice at different versions. */
export function checkedDefaultOpset(model: ModelProto): number | undefined {
  const versions = [...new Set(model.opsetImport.filter((o) => isDefaultDomain(o.domain)).map((o) => o.version))];
  if (versions.length > 1) throw new InputError(`opset_import: the default domain (ai.onnx) is imported at versions ${versions.join(' and ')}; keep one`);
  const version = versions[0];
  if (version !== undefined && (version < 1n || version > BigInt(MAX_VERSION))) {
    throw new InputError(`opset_import: the default domain (ai.onnx) is at version ${version}, which is no opset (from 1 to ${MAX_VERSION}); fix the model's opset_import`);
  }
  return version === undefined ? undefined : Number(version);
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

/** The model's opset imports with the default domain at `version` (added when missing, imported once). */
export function withDefaultOpset(imports: OperatorSetIdProto[], version: number): OperatorSetIdProto[] {
  const current = imports.find((o) => isDefaultDomain(o.domain));
  if (current === undefined) return [...imports, create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(version) })];
  const entry = withFields(current, { version: BigInt(version) });
  return imports.flatMap((o) => (o === current ? [entry] : isDefaultDomain(o.domain) ? [] : [o]));
}
