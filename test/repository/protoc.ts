/**
 * The reference for config.pbtxt parsing: protoc (Debian's protobuf-compiler, scripts/ensure-protoc.sh) encodes the
 * text against Triton's model_config.proto, and protobufjs decodes both protoc's bytes and the bytes of the
 * parser's result, so the two are compared as decoded messages.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import protobuf from 'protobufjs';
import { modelConfigType } from '../../src/repository/schema.js';
import { repoRoot } from '../helpers.js';

const protoFolder = path.join(repoRoot, 'proto/triton');

export type ProtocResult = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

export function protocEncode(text: string): ProtocResult {
  const result = spawnSync('protoc', [`--proto_path=${protoFolder}`, '--encode=inference.ModelConfig', 'model_config.proto'], { input: text, maxBuffer: 1 << 26 });
  if (result.error !== undefined) throw new Error(`protoc is missing: run scripts/ensure-protoc.sh (${result.error.message})`);
  return result.status === 0 ? { ok: true, bytes: result.stdout } : { ok: false, error: result.stderr.toString() };
}

const objectOptions: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, defaults: false };

/** A decoded ModelConfig as a plain object, for comparison. */
export function decoded(bytes: Uint8Array): Record<string, unknown> {
  const type = modelConfigType();
  return type.toObject(type.decode(bytes), objectOptions);
}

/**
 * A JSON message without its proto3 zero values (scalars without presence outside a oneof), which protobuf does not
 * put on the wire, while protobufjs writes any field it is given.
 */
function withoutZeros(message: Record<string, unknown>, type: protobuf.Type): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(message)) {
    const field = type.fields[name]!;
    const messageType = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (field instanceof protobuf.MapField) {
      out[name] = messageType === undefined ? value : Object.fromEntries(Object.entries(value as Record<string, Record<string, unknown>>).map(([k, v]) => [k, withoutZeros(v, messageType)]));
    } else if (field.repeated) {
      out[name] = messageType === undefined ? value : (value as Array<Record<string, unknown>>).map((v) => withoutZeros(v, messageType));
    } else if (messageType !== undefined) {
      out[name] = withoutZeros(value as Record<string, unknown>, messageType);
    } else {
      const zero = value === 0 || value === '0' || value === '' || value === false || (field.resolvedType instanceof protobuf.Enum && field.resolvedType.values[value as string] === 0);
      if (!zero || field.partOf != null || field.hasPresence) out[name] = value;
    }
  }
  return out;
}

/**
 * The parser's JSON result encoded with protobufjs. (protobufjs's verify is not used: it refuses enum numbers the
 * enum has no name for, which proto3 allows and protoc takes; anything fromObject dropped would show when the
 * decoded messages are compared.)
 */
export function encodeJson(config: object): Uint8Array {
  const type = modelConfigType();
  return type.encode(type.fromObject(withoutZeros(config as Record<string, unknown>, type))).finish();
}
