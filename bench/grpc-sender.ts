/**
 * The gRPC side of the serving benchmark's load: a @grpc/grpc-js client of Triton's GRPCInferenceService (from
 * proto/triton) sending one ModelInferRequest with raw_input_contents, serialized once, and reading each answer's
 * bytes without decoding them (as autocannon and the node:http client read HTTP answers), over one channel that
 * carries every call in flight.
 */
import * as grpc from '@grpc/grpc-js';
import { inferenceService, tritonPackage } from '../src/serve/grpc/proto.js';

export interface GrpcSender {
  /** One ModelInfer call, resolved when its answer has arrived (rejected on a status other than OK). */
  send: () => Promise<void>;
  close: () => void;
}

/** A sender of batch-1 requests for input `x` [1, width] FP32 of `model`, cycling through `rows`. */
export function grpcSender(address: string, model: string, rows: readonly Float32Array[]): GrpcSender {
  tritonPackage();
  const method = inferenceService()['ModelInfer']!;
  const messages = rows.map((row) =>
    method.requestSerialize({
      model_name: model,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, row.length] }],
      raw_input_contents: [Buffer.from(row.buffer, row.byteOffset, row.byteLength)],
    }),
  );
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 });
  let next = 0;
  const identity = (bytes: Buffer): Buffer => bytes;
  const send = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const message = messages[next++ % messages.length]!;
      client.makeUnaryRequest(method.path, identity, identity, message, (error: grpc.ServiceError | null) => (error === null ? resolve() : reject(error)));
    });
  return { send, close: () => client.close() };
}
