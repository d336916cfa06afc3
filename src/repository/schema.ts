/**
 * Triton's model configuration schema, `inference.ModelConfig` of model_config.proto (proto/triton/, pinned to a
 * commit of triton-inference-server/common), loaded once with protobufjs reflection. Field names are kept as the
 * .proto spells them (snake_case): they are the names of the text format and of Triton's JSON.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** proto/triton/model_config.proto at the package's root (this file is dist/src/repository/schema.js). */
export const MODEL_CONFIG_PROTO = fileURLToPath(new URL('../../../proto/triton/model_config.proto', import.meta.url));

let root: protobuf.Root | undefined;

/** The schema's root, with every type resolved. */
export function schemaRoot(): protobuf.Root {
  if (root === undefined) {
    const loaded = new protobuf.Root().loadSync(MODEL_CONFIG_PROTO, { keepCase: true });
    loaded.resolveAll();
    root = loaded;
  }
  return root;
}

/** The `inference.ModelConfig` message type. */
export function modelConfigType(): protobuf.Type {
  return schemaRoot().lookupType('inference.ModelConfig');
}
