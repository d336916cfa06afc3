/**
 * Triton's protos (proto/triton at the package's root, taken unchanged from triton-inference-server/common at
 * the commit its README names), loaded once: the service definitions of `inference.GRPCInferenceService` and
 * `grpc.health.v1.Health` for @grpc/grpc-js, and the protobuf type of `inference.ModelConfig`.
 *
 * Messages are plain objects with the protos' own field names (`raw_input_contents`, `model_name`), 64-bit
 * integers as decimal strings (exact past 2^53), enums by name, bytes as Buffers, every field present.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ServiceDefinition } from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

/** proto/triton at the package's root, four folders above this module (dist/src/serve/grpc). */
export const PROTO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../proto/triton');

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true, includeDirs: [PROTO_DIR] };

let loaded: protoLoader.PackageDefinition | undefined;

/** Both protos' package definition (loaded on first use; the same object afterwards). */
export function tritonPackage(): protoLoader.PackageDefinition {
  return (loaded ??= protoLoader.loadSync(['grpc_service.proto', 'health.proto'], LOADER_OPTIONS));
}

const serviceOf = (name: string): ServiceDefinition => tritonPackage()[name] as ServiceDefinition;

export const inferenceService = (): ServiceDefinition => serviceOf('inference.GRPCInferenceService');
export const healthService = (): ServiceDefinition => serviceOf('grpc.health.v1.Health');
