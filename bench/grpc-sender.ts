/**
 * The gRPC side of the serving benchmark's load: a @grpc/grpc-js client of Triton's GRPCInferenceService (from
 * proto/triton) sending one ModelInferRequest with raw_input_contents, serialized once, and reading each answer's
 * bytes without decoding them (as autocannon and the node:http client read HTTP answers), over one channel that
 * carries every call in flight.
 */
import http2 from 'node:http2';
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
  // Channelz bookkeeping and the retry machinery cost every call client time that would crowd the server here.
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.enable_channelz': 0, 'grpc.enable_retries': 0 });
  let next = 0;
  const identity = (bytes: Buffer): Buffer => bytes;
  const send = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const message = messages[next++ % messages.length]!;
      client.makeUnaryRequest(method.path, identity, identity, message, (error: grpc.ServiceError | null) => (error === null ? resolve() : reject(error)));
    });
  return { send, close: () => client.close() };
}

/**
 * The same calls sent by a bare node:http2 client: each request's gRPC frame (a 5-byte prefix and the message)
 * built once, one HTTP/2 stream per call on one connection, the answer's bytes and its status read and nothing
 * else. It shows how much of a grpc-js client's time per call is the client's own (as autocannon, a lean client,
 * does for HTTP/1.1): not a gRPC client, only a load generator.
 */
export function bareGrpcSender(address: string, model: string, rows: readonly Float32Array[]): GrpcSender {
  const method = inferenceService()['ModelInfer']!;
  const frames = rows.map((row) => {
    const message = method.requestSerialize({
      model_name: model,
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, row.length] }],
      raw_input_contents: [Buffer.from(row.buffer, row.byteOffset, row.byteLength)],
    });
    const frame = Buffer.alloc(5 + message.byteLength);
    frame.writeUInt32BE(message.byteLength, 1);
    message.copy(frame, 5);
    return frame;
  });
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {});
  const headers = { ':method': 'POST', ':path': method.path, 'content-type': 'application/grpc', te: 'trailers' };
  let next = 0;
  const send = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const stream = session.request(headers);
      let status: unknown;
      stream.on('response', (h) => (status = h['grpc-status'] ?? status));
      stream.on('trailers', (h) => (status = h['grpc-status']));
      stream.on('data', () => {});
      stream.on('error', reject);
      stream.on('close', () => (status === '0' ? resolve() : reject(new Error(`grpc-status ${String(status)}`))));
      stream.end(frames[next++ % frames.length]);
    });
  return { send, close: () => session.close() };
}
