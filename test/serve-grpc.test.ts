/**
 * The gRPC endpoint of `serve` (Triton's inference.GRPCInferenceService and grpc.health.v1.Health), started in
 * this process on 127.0.0.1 with free ports, on real models run by onnxruntime-node, driven by a @grpc/grpc-js
 * client generated from the same protos: every call, every datatype raw and typed, errors with their codes and
 * Triton's texts, compression, the health service, the calls it does not have, deadlines, streams and model
 * control.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync, deflateSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { startServer, type InferenceServer, type ServeOptions } from '../src/serve/index.js';
import { SeededRandom } from '../src/tensors/random.js';
import { fixture, tempDir } from './helpers.js';
import { assertSame } from './session-helpers.js';
import { datatypeOf, rawBytes, slowModelFile, waitFor, type Feeds } from './serve-client.js';
import { allTypes, identityModel, modelFile, plainRun, typeFeeds, valuesOf } from './serve-types.js';
import { inferRequest, outputsOf, tritonClient, type TritonClient } from './serve-grpc-client.js';
import { tritonPackage } from '../src/serve/grpc/proto.js';

const start = (options: ServeOptions): Promise<InferenceServer> => startServer({ port: 0, metricsPort: null, grpcPort: 0, ...options });

/** Runs `body` with a server and a client on its gRPC endpoint; closes both after. */
async function withServer(options: ServeOptions, body: (client: TritonClient, server: InferenceServer) => Promise<void>, channel: grpc.ChannelOptions = {}): Promise<void> {
  const server = await start(options);
  const client = tritonClient(server.grpcAddress!, channel);
  try {
    await body(client, server);
  } finally {
    client.close();
    await server.close();
  }
}

/** Asserts that `call` fails with `code` and details matching `details`. */
async function rejects(call: Promise<unknown>, code: grpc.status, details: RegExp | string): Promise<void> {
  await assert.rejects(call, (error: grpc.ServiceError) => {
    assert.equal(error.code, code, `code ${grpc.status[error.code]} (${error.details}), expected ${grpc.status[code]}`);
    if (typeof details === 'string') assert.equal(error.details, details);
    else assert.match(error.details, details);
    return true;
  });
}

const mlpFeeds = (batch: number, seed = 1): Feeds => ({ x: new ort.Tensor('float32', new SeededRandom(seed).floats(batch * 16), [batch, 16]) });

test('every call of GRPCInferenceService answers through the core: health, metadata, config, statistics, index, inference equal to a plain session', { timeout: 120_000 }, async () => {
  const model = fixture('two_in_two_out');
  await withServer({ model, session: { devices: ['cpu', 'cpu'] } }, async (client, server) => {
    assert.match(server.grpcAddress!, /^127\.0\.0\.1:\d+$/);
    assert.deepEqual(await client.call('ServerLive', {}), { live: true });
    assert.deepEqual(await client.call('ServerReady', {}), { ready: true });
    assert.deepEqual(await client.call('ModelReady', { name: 'two_in_two_out', version: '' }), { ready: true });
    assert.deepEqual(await client.call('ModelReady', { name: 'two_in_two_out', version: '1' }), { ready: true });

    const metadata = await client.call('ServerMetadata', {});
    assert.equal(metadata['name'], 'triton');
    assert.match(metadata['version'], /^\d+\.\d+\.\d+/);
    assert.ok(metadata['extensions'].includes('statistics'), metadata['extensions'].join(','));

    const modelMetadata = await client.call('ModelMetadata', { name: 'two_in_two_out', version: '' });
    const http = (await (await fetch(`${server.url}/v2/models/two_in_two_out`)).json()) as { inputs: Array<{ name: string; datatype: string; shape: number[] }> };
    assert.equal(modelMetadata['name'], 'two_in_two_out');
    assert.deepEqual(modelMetadata['versions'], ['1']);
    assert.equal(modelMetadata['platform'], 'onnxruntime_onnx');
    assert.deepEqual(modelMetadata['inputs'].map((t: { name: string; datatype: string; shape: string[] }) => ({ ...t, shape: t.shape.map(Number) })), http.inputs, 'the same inputs as over HTTP');

    const config = (await client.call('ModelConfig', { name: 'two_in_two_out', version: '' }))['config'];
    const httpConfig = (await (await fetch(`${server.url}/v2/models/two_in_two_out/config`)).json()) as { name: string; platform: string; input: Array<{ name: string; data_type: string }> };
    assert.equal(config['name'], 'two_in_two_out');
    assert.equal(config['platform'], httpConfig.platform);
    assert.deepEqual(config['input'].map((i: { name: string; data_type: string }) => [i.name, i.data_type]), httpConfig.input.map((i) => [i.name, i.data_type]));

    // Inference: raw inputs, all outputs by default, then one output asked for by name; the id comes back.
    const random = new SeededRandom(3);
    const feeds: Feeds = {
      features: new ort.Tensor('float32', random.floats(3 * 8), [3, 8]),
      mask: new ort.Tensor('float32', random.floats(3 * 4), [3, 4]),
    };
    const expected = await plainRun(model, feeds);
    const answer = await client.call('ModelInfer', inferRequest('two_in_two_out', feeds, { id: 'req-1' }));
    assert.equal(answer['model_name'], 'two_in_two_out');
    assert.equal(answer['model_version'], '1');
    assert.equal(answer['id'], 'req-1');
    assertSame(outputsOf(answer), expected, 'raw');
    const one = Object.keys(expected)[1]!;
    const picked = await client.call('ModelInfer', inferRequest('two_in_two_out', feeds, { outputs: [one], version: '1' }));
    assert.deepEqual(picked['outputs'].map((o: { name: string }) => o.name), [one]);
    assertSame(outputsOf(picked), { [one]: expected[one]! }, 'one output by name');
    const typed = await client.call('ModelInfer', inferRequest('two_in_two_out', feeds, { raw: false }));
    assert.equal(typed['raw_output_contents'].length, Object.keys(expected).length, 'answers are raw, as Triton answers');
    assertSame(outputsOf(typed), expected, 'typed contents');

    // Statistics count the three requests (3 rows each), the same over gRPC and HTTP.
    const stats = (await client.call('ModelStatistics', { name: 'two_in_two_out', version: '' }))['model_stats'];
    assert.equal(stats.length, 1);
    assert.equal(stats[0].name, 'two_in_two_out');
    assert.equal(stats[0].version, '1');
    assert.equal(stats[0].inference_count, '9');
    assert.equal(stats[0].inference_stats.success.count, '3');
    const all = (await client.call('ModelStatistics', { name: '', version: '' }))['model_stats'];
    assert.deepEqual(all.map((s: { name: string }) => s.name), ['two_in_two_out']);

    const index = (await client.call('RepositoryIndex', { repository_name: '', ready: false }))['models'];
    assert.deepEqual(index.map((m: Record<string, string>) => [m['name'], m['version'], m['state']]), [['two_in_two_out', '1', 'READY']]);
    await rejects(client.call('RepositoryIndex', { repository_name: 'other', ready: false }), grpc.status.UNIMPLEMENTED, "'repository_name' specification is not supported");
  });
});

test('every datatype raw (BYTES length-prefixed, FP16) and typed, exact at the edges of its range', { timeout: 120_000 }, async () => {
  const types = modelFile('types', identityModel());
  // Typed contents and raw_input_contents do not mix in one request, and FP16 has no typed field: a model without it.
  const typedTypes = allTypes.filter(([, type]) => type !== 'float16');
  const typed = modelFile('typed', identityModel(typedTypes));
  try {
    await withServer({ models: [types.file, typed.file], session: { devices: ['cpu'] } }, async (client) => {
      const feeds = typeFeeds();
      const raw = await client.call('ModelInfer', inferRequest('types', feeds));
      const outputs = outputsOf(raw);
      assert.deepEqual(raw['outputs'].map((o: { datatype: string }) => o.datatype), allTypes.map(([, type]) => datatypeOf[type]));
      for (const [, type] of allTypes) assert.deepEqual(valuesOf(outputs[`out_${type}`]!), valuesOf(feeds[`in_${type}`]!), `${type} raw`);

      // Typed contents, every datatype that has a field; answered raw, the second output only when asked for it.
      const { in_float16: half, ...typedFeeds } = feeds;
      const typedAnswer = await client.call('ModelInfer', inferRequest('typed', typedFeeds, { raw: false }));
      assert.equal(typedAnswer['raw_output_contents'].length, typedTypes.length);
      const typedOutputs = outputsOf(typedAnswer);
      for (const [, type] of typedTypes) assert.deepEqual(valuesOf(typedOutputs[`out_${type}`]!), valuesOf(feeds[`in_${type}`]!), `${type} typed`);

      // Typed and raw in one request: refused as Triton refuses it.
      const mixed = inferRequest('types', typedFeeds, { raw: false });
      mixed['inputs'].push({ name: 'in_float16', datatype: 'FP16', shape: ['2', '2'] });
      await rejects(client.call('ModelInfer', { ...mixed, raw_input_contents: [rawBytes(half!)] }), grpc.status.INVALID_ARGUMENT, "input 'in_bool': contents field must not be specified when using raw_input_contents for 'in_bool' for model 'types'");
      // FP16 in typed contents: refused, naming the way it goes.
      const fp16Typed = inferRequest('types', { in_float16: half! });
      fp16Typed['raw_input_contents'] = [];
      fp16Typed['inputs'][0].contents = { fp32_contents: [0.5, -2, 65504, 0.1] };
      await rejects(client.call('ModelInfer', fp16Typed), grpc.status.INVALID_ARGUMENT, "input 'in_float16': datatype FP16 has no typed contents; send it in raw_input_contents");
      // BF16 raw data for an FP16 input: refused, naming both datatypes (BF16 models: bfloat16.test.ts).
      const bf16 = inferRequest('types', { in_float16: half! });
      bf16['inputs'][0].datatype = 'BF16';
      await rejects(client.call('ModelInfer', bf16), grpc.status.INVALID_ARGUMENT, "input 'in_float16': datatype BF16, but the model takes FP16");
      // A typed field of another datatype; two fields at once.
      const wrongField = inferRequest('typed', { in_int64: feeds['in_int64']! }, { raw: false });
      wrongField['inputs'][0].contents = { int_contents: [1, 2, 3, 4] };
      await rejects(client.call('ModelInfer', wrongField), grpc.status.INVALID_ARGUMENT, "input 'in_int64': its contents are in int_contents, but datatype INT64 goes in int64_contents");
      const twoFields = inferRequest('typed', { in_int32: feeds['in_int32']! }, { raw: false });
      twoFields['inputs'][0].contents = { int_contents: [1, 2, 3, 4], fp32_contents: [1, 2, 3, 4] };
      await rejects(client.call('ModelInfer', twoFields), grpc.status.INVALID_ARGUMENT, "input 'in_int32': its contents fill int_contents and fp32_contents; fill only int_contents");
      // An INT8 value out of range in int_contents; too few values.
      const outOfRange = inferRequest('typed', { in_int8: feeds['in_int8']! }, { raw: false });
      outOfRange['inputs'][0].contents = { int_contents: [1, 2, 300, 4] };
      await rejects(client.call('ModelInfer', outOfRange), grpc.status.INVALID_ARGUMENT, "input 'in_int8': element 2 is 300, expected a value in the range of INT8");
      const short = inferRequest('typed', { in_fp32: feeds['in_float32']! }, { raw: false });
      short['inputs'][0] = { name: 'in_float32', datatype: 'FP32', shape: ['2', '2'], contents: { fp32_contents: [1, 2, 3] } };
      await rejects(client.call('ModelInfer', short), grpc.status.INVALID_ARGUMENT, /^input 'in_float32': "data" has 3 values, but shape \[2, 2\] holds 4$/);
      // BYTES raw with a length cut off.
      const badBytes = inferRequest('types', { in_string: feeds['in_string']! });
      badBytes['raw_input_contents'] = [Buffer.from([1, 0, 0, 0, 97, 9, 0, 0])];
      await rejects(client.call('ModelInfer', badBytes), grpc.status.INVALID_ARGUMENT, "input 'in_string': BYTES element 1: its 4-byte length is cut off");
    });
  } finally {
    types.remove();
    typed.remove();
  }
});

test('errors: unknown model and version with Triton\'s texts (NOT_FOUND), bad shapes, datatypes, inputs and raw contents (INVALID_ARGUMENT)', { timeout: 120_000 }, async () => {
  await withServer({ model: fixture('mlp'), session: { devices: ['cpu'] } }, async (client) => {
    const feeds = mlpFeeds(2);
    await rejects(client.call('ModelInfer', inferRequest('nope', feeds)), grpc.status.NOT_FOUND, "Request for unknown model: 'nope' is not found");
    await rejects(client.call('ModelInfer', inferRequest('mlp', feeds, { version: '7' })), grpc.status.NOT_FOUND, "Request for unknown model: 'mlp' version 7 is not found");
    await rejects(client.call('ModelMetadata', { name: 'nope', version: '' }), grpc.status.NOT_FOUND, "Request for unknown model: 'nope' is not found");
    await rejects(client.call('ModelConfig', { name: 'nope', version: '' }), grpc.status.NOT_FOUND, "Request for unknown model: 'nope' is not found");
    await rejects(client.call('ModelStatistics', { name: 'nope', version: '' }), grpc.status.NOT_FOUND, "Request for unknown model: 'nope' is not found");
    assert.deepEqual(await client.call('ModelReady', { name: 'nope', version: '' }), { ready: false });

    const shortRaw = inferRequest('mlp', feeds);
    shortRaw['raw_input_contents'][0] = shortRaw['raw_input_contents'][0].subarray(4);
    await rejects(client.call('ModelInfer', shortRaw), grpc.status.INVALID_ARGUMENT, "input 'x': raw_input_contents[0] is 124 bytes, but the shape holds 32 FP32 elements (128 bytes)");
    const badShape = inferRequest('mlp', feeds);
    badShape['inputs'][0].shape = ['2', '-4'];
    await rejects(client.call('ModelInfer', badShape), grpc.status.INVALID_ARGUMENT, /^input 'x': "shape" must be a list of whole numbers >= 0/);
    const wrongDims = inferRequest('mlp', { x: new ort.Tensor('float32', new Float32Array(2 * 15), [2, 15]) });
    await rejects(client.call('ModelInfer', wrongDims), grpc.status.INVALID_ARGUMENT, /'x'/);
    const badType = inferRequest('mlp', feeds);
    badType['inputs'][0].datatype = 'FP64';
    await rejects(client.call('ModelInfer', badType), grpc.status.INVALID_ARGUMENT, "input 'x': datatype FP64, but the model takes FP32");
    const unknownType = inferRequest('mlp', feeds);
    unknownType['inputs'][0].datatype = 'FLOAT';
    await rejects(client.call('ModelInfer', unknownType), grpc.status.INVALID_ARGUMENT, /^input 'x': unknown datatype "FLOAT"; use one of BOOL/);
    const unknownInput = inferRequest('mlp', { y: feeds['x']! });
    await rejects(client.call('ModelInfer', unknownInput), grpc.status.INVALID_ARGUMENT, "input 'y': not an input of the model (its inputs: x)");
    const noData = { ...inferRequest('mlp', feeds), raw_input_contents: [] };
    await rejects(client.call('ModelInfer', noData), grpc.status.INVALID_ARGUMENT, /^input 'x': unable to find data for input tensor 'x' for model 'mlp' in request/);
    const extraRaw = inferRequest('mlp', feeds);
    extraRaw['raw_input_contents'].push(Buffer.alloc(4));
    await rejects(client.call('ModelInfer', extraRaw), grpc.status.INVALID_ARGUMENT, '1 of the 2 raw_input_contents belong to no input: give exactly one per input, in input order');
    await rejects(client.call('ModelInfer', inferRequest('mlp', feeds, { outputs: ['nope'] })), grpc.status.INVALID_ARGUMENT, /^output 'nope': not an output of the model/);
    const sharedMemory = inferRequest('mlp', feeds);
    sharedMemory['inputs'][0].parameters = { shared_memory_region: { string_param: 'region' } };
    await rejects(client.call('ModelInfer', sharedMemory), grpc.status.INVALID_ARGUMENT, /^input 'x': shared memory is not supported/);
    // The failures are counted; the server still answers right.
    const answer = await client.call('ModelInfer', inferRequest('mlp', feeds));
    assertSame(outputsOf(answer), await plainRun(fixture('mlp'), feeds), 'after the errors');
    const stats = (await client.call('ModelStatistics', { name: 'mlp', version: '' }))['model_stats'][0];
    assert.equal(stats.inference_stats.success.count, '1');
    assert.equal(stats.inference_stats.fail.count, '10');
  });
});

/** One gRPC message frame, its payload compressed with `encoding`, sent over a bare HTTP/2 stream; resolves to the answer's status and message. */
async function compressedCall(address: string, method: string, message: Uint8Array, encoding: 'gzip' | 'deflate'): Promise<{ status: string; message: string | undefined; body: Buffer }> {
  const session = http2.connect(`http://${address}`);
  try {
    const payload = encoding === 'gzip' ? gzipSync(message) : deflateSync(message);
    const frame = Buffer.alloc(5 + payload.byteLength);
    frame.writeUInt8(1, 0);
    frame.writeUInt32BE(payload.byteLength, 1);
    Buffer.from(payload).copy(frame, 5);
    const stream = session.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers', 'grpc-encoding': encoding, 'grpc-accept-encoding': 'identity' });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The status comes in the trailers, or in the headers of an answer that has only headers.
    let status: http2.IncomingHttpHeaders = {};
    stream.once('response', (headers) => (status = headers));
    stream.once('trailers', (headers) => (status = headers));
    stream.end(frame);
    await new Promise((resolve) => stream.once('close', resolve));
    return { status: String(status['grpc-status']), message: status['grpc-message'] as string | undefined, body: Buffer.concat(chunks) };
  } finally {
    session.close();
  }
}

test('compression: a client asking for gzip or deflate is answered; compressed request frames are read; a message past maxBodyBytes is RESOURCE_EXHAUSTED', { timeout: 120_000 }, async () => {
  const model = fixture('mlp');
  const feeds = mlpFeeds(64, 9);
  const expected = await plainRun(model, feeds);
  const server = await start({ model, session: { devices: ['cpu'] }, maxBodyBytes: 16 * 1024 });
  try {
    // grpc-js clients with channel compression (gzip = 2, deflate = 1), and one per-call.
    for (const algorithm of [2, 1]) {
      const client = tritonClient(server.grpcAddress!, { 'grpc.default_compression_algorithm': algorithm });
      try {
        assertSame(outputsOf(await client.call('ModelInfer', inferRequest('mlp', feeds))), expected, `channel compression ${algorithm}`);
      } finally {
        client.close();
      }
    }
    // The frames themselves, compressed by hand: the server decompresses them (a frame it could not read fails).
    const serialize = (tritonPackage()['inference.GRPCInferenceService'] as grpc.ServiceDefinition)['ModelInfer']!.requestSerialize;
    const message = serialize(inferRequest('mlp', feeds));
    for (const encoding of ['gzip', 'deflate'] as const) {
      const answer = await compressedCall(server.grpcAddress!, '/inference.GRPCInferenceService/ModelInfer', message, encoding);
      assert.equal(answer.status, '0', `${encoding}: ${answer.message}`);
      const deserialize = (tritonPackage()['inference.GRPCInferenceService'] as grpc.ServiceDefinition)['ModelInfer']!.responseDeserialize;
      assert.equal(answer.body.readUInt8(0), 0, 'the answer goes uncompressed');
      assertSame(outputsOf(deserialize(answer.body.subarray(5)) as Record<string, unknown>), expected, encoding);
    }
    const garbage = await compressedCall(server.grpcAddress!, '/inference.GRPCInferenceService/ModelInfer', Buffer.from('not a protobuf'), 'gzip');
    assert.notEqual(garbage.status, '0');
    // Past maxBodyBytes, as sent and once decompressed (zeros: a few hundred bytes of gzip).
    const client = tritonClient(server.grpcAddress!);
    try {
      const large = { x: new ort.Tensor('float32', new Float32Array(512 * 16), [512, 16]) };
      await rejects(client.call('ModelInfer', inferRequest('mlp', large)), grpc.status.RESOURCE_EXHAUSTED, /larger than max \(\d+ vs 16384\)/);
      const inflated = await compressedCall(server.grpcAddress!, '/inference.GRPCInferenceService/ModelInfer', serialize(inferRequest('mlp', large)), 'gzip');
      assert.equal(inflated.status, String(grpc.status.RESOURCE_EXHAUSTED), inflated.message);
      assertSame(outputsOf(await client.call('ModelInfer', inferRequest('mlp', feeds))), expected, 'after the refusals');
    } finally {
      client.close();
    }
  } finally {
    await server.close();
  }
});

test('health service: SERVING while ready, NOT_FOUND for another service, Watch UNIMPLEMENTED', { timeout: 120_000 }, async () => {
  const slow = slowModelFile();
  const server = await start({ model: slow.file, session: { devices: ['cpu'] }, drainMs: 60_000 });
  const client = tritonClient(server.grpcAddress!);
  try {
    assert.deepEqual(await client.health(), { status: 'SERVING' });
    assert.deepEqual(await client.health('inference.GRPCInferenceService'), { status: 'SERVING' });
    await rejects(client.health('other.Service'), grpc.status.NOT_FOUND, /^unknown service 'other.Service'/);
    const watch = await new Promise<grpc.ServiceError>((resolve) => {
      const stream = client.raw.makeServerStreamRequest('/grpc.health.v1.Health/Watch', () => Buffer.alloc(0), (b: Buffer) => b, {});
      stream.on('error', resolve);
      stream.on('data', () => {});
    });
    assert.equal(watch.code, grpc.status.UNIMPLEMENTED);
  } finally {
    client.close();
    await server.close();
    slow.remove();
  }
});

test('shared memory, trace and log settings answer UNIMPLEMENTED, saying what to use instead', { timeout: 60_000 }, async () => {
  await withServer({ model: fixture('mlp'), session: { devices: ['cpu'] } }, async (client) => {
    const calls: Array<[string, Record<string, unknown>, RegExp]> = [
      ['SystemSharedMemoryStatus', {}, /does not support system shared memory \(Triton's shared-memory extension\): send each input's data in the request/],
      ['SystemSharedMemoryRegister', { name: 'r', key: '/k', offset: '0', byte_size: '64' }, /does not support system shared memory/],
      ['SystemSharedMemoryUnregister', { name: 'r' }, /does not support system shared memory/],
      ['CudaSharedMemoryStatus', {}, /does not support CUDA shared memory \(Triton's CUDA shared-memory extension\): send each input's data in the request/],
      ['CudaSharedMemoryRegister', { name: 'r', raw_handle: Buffer.alloc(8), device_id: '0', byte_size: '64' }, /does not support CUDA shared memory/],
      ['CudaSharedMemoryUnregister', { name: 'r' }, /does not support CUDA shared memory/],
      ['TraceSetting', { model_name: 'mlp' }, /does not support tracing \(Triton's trace extension\): use the model statistics/],
      ['LogSettings', {}, /does not support changing its log settings \(Triton's logging extension\)/],
    ];
    for (const [method, request, details] of calls) await rejects(client.call(method, request), grpc.status.UNIMPLEMENTED, details);
  });
});

test('a call whose deadline passes is answered DEADLINE_EXCEEDED and its request leaves the queue without running', { timeout: 180_000 }, async () => {
  const slow = slowModelFile();
  try {
    await withServer({ model: slow.file, session: { devices: ['cpu'] } }, async (client, server) => {
      const rows = (batch: number): Feeds => ({ x: new ort.Tensor('float32', new Float32Array(batch * 512).fill(0.5), [batch, 512]) });
      // A long run holds the one device; the second request waits in the queue behind it, past its deadline.
      const long = client.call('ModelInfer', inferRequest('slow', rows(96)));
      let longDone = false;
      void long.then(() => (longDone = true));
      await waitFor('the long request to run', () => server.inFlight === 1);
      const began = Date.now();
      await rejects(client.call('ModelInfer', inferRequest('slow', rows(1)), { deadline: Date.now() + 150 }), grpc.status.DEADLINE_EXCEEDED, /Deadline/i);
      assert.ok(Date.now() - began < 5_000, `answered after ${Date.now() - began} ms`);
      // The server lets go of it (its deadline passes there too) while the long request still runs.
      await waitFor('the request past its deadline to leave the server', () => server.inFlight === 1);
      assert.equal(longDone, false, 'the long request still runs: the other was answered while it waited');
      const longAnswer = await long;
      assert.deepEqual(outputsOf(longAnswer)['y']!.dims, [96, 512]);
      const stats = (await client.call('ModelStatistics', { name: 'slow', version: '' }))['model_stats'][0];
      assert.equal(stats.inference_stats.success.count, '1');
      assert.equal(stats.inference_stats.fail.count, '1');
      assert.equal(stats.inference_count, '96', 'the request past its deadline never ran');
      assert.equal(stats.execution_count, '1');
    });
  } finally {
    slow.remove();
  }
});

test('ModelStreamInfer: several requests on one stream, each answered with its id; an error goes in error_message and the stream goes on', { timeout: 120_000 }, async () => {
  const model = fixture('mlp');
  await withServer({ model, session: { devices: ['cpu', 'cpu'] } }, async (client) => {
    const requests = Array.from({ length: 6 }, (_, k) => ({ id: `s${k}`, feeds: mlpFeeds(1 + (k % 3), 20 + k) }));
    const answers = await client.stream([
      ...requests.map((r) => inferRequest('mlp', r.feeds, { id: r.id })),
      inferRequest('nope', requests[0]!.feeds, { id: 'bad' }),
    ]);
    assert.equal(answers.length, 7);
    const failed = answers.filter((a) => a['error_message'] !== '');
    assert.deepEqual(failed.map((a) => a['error_message']), ["Request for unknown model: 'nope' is not found"]);
    for (const request of requests) {
      const answer = answers.find((a) => a['infer_response']?.['id'] === request.id);
      assert.ok(answer !== undefined, `an answer for ${request.id}`);
      assertSame(outputsOf(answer['infer_response']), await plainRun(model, request.feeds), request.id);
    }
  });
});

test('model control over gRPC: RepositoryIndex, RepositoryModelLoad and RepositoryModelUnload in explicit mode; refused overrides and modes', { timeout: 180_000 }, async () => {
  await withServer({ models: [fixture('mlp'), fixture('cnn')], modelControlMode: 'explicit', loadModels: ['mlp'], session: { devices: ['cpu'] } }, async (client, server) => {
    const index = async (): Promise<string[][]> => ((await client.call('RepositoryIndex', { repository_name: '', ready: false }))['models'] as Array<Record<string, string>>).map((m) => [m['name']!, m['version']!, m['state']!]);
    assert.deepEqual(await index(), [['cnn', '', ''], ['mlp', '1', 'READY']].filter((row) => row[0] === 'mlp' || row[0] === 'cnn'));
    await rejects(client.call('ModelMetadata', { name: 'cnn', version: '' }), grpc.status.NOT_FOUND, "Request for unknown model: 'cnn' is not found");

    assert.deepEqual(await client.call('RepositoryModelLoad', { repository_name: '', model_name: 'cnn', parameters: {} }), {});
    assert.deepEqual(await client.call('ModelReady', { name: 'cnn', version: '1' }), { ready: true });
    assert.deepEqual((await index()).find((row) => row[0] === 'cnn'), ['cnn', '1', 'READY']);

    await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'cnn', parameters: { config: { string_param: '{"max_batch_size": 4}' } } }), grpc.status.INVALID_ARGUMENT, /^failed to load 'cnn'/);
    await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'cnn', parameters: { config: { bool_param: true } } }), grpc.status.INVALID_ARGUMENT, "invalid value type for load parameter 'config', expected string_param.");
    await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'cnn', parameters: { 'file:1/model.onnx': { string_param: 'x' } } }), grpc.status.INVALID_ARGUMENT, "invalid value type for load parameter 'file:1/model.onnx', expected bytes_param.");
    await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'cnn', parameters: { other: { bool_param: true } } }), grpc.status.INVALID_ARGUMENT, "unrecognized load parameter 'other'.");
    // A model not in the catalog: the status HTTP gives, with the same text.
    const http = await fetch(`${server.url}/v2/repository/models/nope/load`, { method: 'POST' });
    const httpError = ((await http.json()) as { error: string }).error;
    assert.match(httpError, /^failed to load 'nope'/);
    await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'nope', parameters: {} }), http.status === 404 ? grpc.status.NOT_FOUND : grpc.status.INVALID_ARGUMENT, httpError);
    assert.deepEqual(await client.call('ModelReady', { name: 'cnn', version: '1' }), { ready: true }, 'a refused reload leaves the model serving');

    assert.deepEqual(await client.call('RepositoryModelUnload', { repository_name: '', model_name: 'mlp', parameters: {} }), {});
    await rejects(client.call('ModelInfer', inferRequest('mlp', mlpFeeds(1))), grpc.status.NOT_FOUND, /^Request for unknown model: 'mlp'/);
    assert.deepEqual((await index()).find((row) => row[0] === 'mlp')?.slice(0, 1), ['mlp']);
    await rejects(client.call('RepositoryModelUnload', { repository_name: '', model_name: 'never', parameters: {} }), grpc.status.NOT_FOUND, "Request for unknown model: 'never' is not found");
  });
  await withServer({ model: fixture('mlp'), session: { devices: ['cpu'] } }, async (client) => {
    await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'mlp', parameters: {} }), grpc.status.UNAVAILABLE, /explicit model load \/ unload is not allowed/);
  });
});

test('grpcPort null serves no gRPC; a gRPC port in use fails the start naming it', { timeout: 60_000 }, async () => {
  const first = await start({ model: fixture('mlp'), session: { devices: ['cpu'] } });
  try {
    const port = Number(first.grpcAddress!.split(':').pop());
    await assert.rejects(start({ model: fixture('mlp'), session: { devices: ['cpu'] }, grpcPort: port }), (error: Error) => {
      assert.match(error.message, new RegExp(`^cannot listen for gRPC on 127\\.0\\.0\\.1:${port}: .*; choose another --host or --grpc-port$`));
      return true;
    });
    const none = await start({ model: fixture('mlp'), session: { devices: ['cpu'] }, grpcPort: null });
    assert.equal(none.grpcAddress, undefined);
    await none.close();
  } finally {
    await first.close();
  }
});

/** A model repository in a temporary folder: NAME/VERSION/model.onnx (from fixtures) and NAME/config.pbtxt. */
function repository(models: Record<string, { versions: Record<string, string>; config?: string }>): { root: string; remove: () => void } {
  const root = tempDir('onnx-parallelize-repo-');
  for (const [name, model] of Object.entries(models)) {
    for (const [version, source] of Object.entries(model.versions)) {
      mkdirSync(path.join(root, name, version), { recursive: true });
      copyFileSync(fixture(source), path.join(root, name, version, 'model.onnx'));
    }
    if (model.config !== undefined) writeFileSync(path.join(root, name, 'config.pbtxt'), model.config);
  }
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

test('a repository over gRPC: versions, the configuration of config.pbtxt as /config gives it, its batch limit; loads with configuration and file overrides', { timeout: 180_000 }, async () => {
  const repo = repository({
    mlp: {
      versions: { '2': 'mlp', '3': 'mlp' },
      config: 'name: "mlp"\nbackend: "onnxruntime"\nmax_batch_size: 8\nversion_policy: { latest { num_versions: 2 } }\ninput [{ name: "x" data_type: TYPE_FP32 dims: [ 16 ] }]\noutput [{ name: "y" data_type: TYPE_FP32 dims: [ 8 ] }]\ndynamic_batching { preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 100 }\n',
    },
    pair: { versions: { '1': 'two_in_two_out' } },
  });
  try {
    await withServer({ models: [repo.root], modelControlMode: 'explicit', loadModels: ['mlp'] }, async (client, server) => {
      const metadata = await client.call('ModelMetadata', { name: 'mlp', version: '' });
      assert.deepEqual(metadata['versions'], ['2', '3']);
      // ModelConfig carries what /config says, field by field, as an inference.ModelConfig.
      const config = (await client.call('ModelConfig', { name: 'mlp', version: '3' }))['config'];
      const http = (await (await fetch(`${server.url}/v2/models/mlp/versions/3/config`)).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      assert.equal(config['name'], 'mlp');
      assert.equal(config['max_batch_size'], http['max_batch_size']);
      assert.equal(config['max_batch_size'], 8);
      assert.deepEqual(config['version_policy'], { latest: { num_versions: 2 }, policy_choice: 'latest' });
      assert.deepEqual(config['input'].map((t: Record<string, any>) => [t['name'], t['data_type'], t['dims'].map(Number)]), [['x', 'TYPE_FP32', [16]]]); // eslint-disable-line @typescript-eslint/no-explicit-any
      assert.deepEqual(config['dynamic_batching']['preferred_batch_size'], http['dynamic_batching']['preferred_batch_size']);
      assert.equal(Number(config['dynamic_batching']['max_queue_delay_microseconds']), Number(http['dynamic_batching']['max_queue_delay_microseconds']));
      assert.deepEqual(config['instance_group'].map((g: Record<string, unknown>) => [g['kind'], g['count']]), http['instance_group'].map((g: Record<string, unknown>) => [g['kind'], g['count']]));

      const feeds = mlpFeeds(3, 5);
      const expected = await plainRun(fixture('mlp'), feeds);
      for (const [version, answered] of [['2', '2'], ['', '3']]) {
        const answer = await client.call('ModelInfer', inferRequest('mlp', feeds, { version: version! }));
        assert.equal(answer['model_version'], answered);
        assertSame(outputsOf(answer), expected, `version ${answered}`);
      }
      await rejects(client.call('ModelInfer', inferRequest('mlp', mlpFeeds(9))), grpc.status.INVALID_ARGUMENT, "inference request batch-size must be <= 8 for 'mlp'");

      // Overrides: a configuration with the model's files in the request (version 7), then bad ones.
      const override = JSON.stringify({ backend: 'onnxruntime', max_batch_size: 4 });
      assert.deepEqual(await client.call('RepositoryModelLoad', { repository_name: '', model_name: 'mlp', parameters: { config: { string_param: override }, 'file:7/model.onnx': { bytes_param: readFileSync(fixture('mlp')) } } }), {});
      await waitFor('version 7 to serve alone', async () => (await client.call('ModelMetadata', { name: 'mlp', version: '' }))['versions'].join() === '7');
      assert.equal((await client.call('ModelConfig', { name: 'mlp', version: '' }))['config']['max_batch_size'], 4);
      await rejects(client.call('ModelInfer', inferRequest('mlp', mlpFeeds(5))), grpc.status.INVALID_ARGUMENT, "inference request batch-size must be <= 4 for 'mlp'");
      assertSame(outputsOf(await client.call('ModelInfer', inferRequest('mlp', feeds))), expected, 'version 7');
      await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'mlp', parameters: { config: { string_param: '{not json' } } }), grpc.status.INVALID_ARGUMENT, /^failed to load 'mlp': parameters.config/);
      await rejects(client.call('RepositoryModelLoad', { repository_name: '', model_name: 'mlp', parameters: { config: { string_param: '{}' }, 'file:1/model.onnx': { bytes_param: Buffer.from('not a model') } } }), grpc.status.INVALID_ARGUMENT, /^failed to load 'mlp': .*model\.onnx: not an ONNX model/);
      assert.deepEqual((await client.call('ModelMetadata', { name: 'mlp', version: '' }))['versions'], ['7'], 'still serving after the bad overrides');

      // The model loaded on request, then unloaded: the index says so.
      assert.deepEqual(await client.call('RepositoryModelLoad', { repository_name: '', model_name: 'pair', parameters: {} }), {});
      assert.deepEqual(await client.call('RepositoryModelUnload', { repository_name: '', model_name: 'pair', parameters: { unload_dependents: { bool_param: false } } }), {});
      const index = (await client.call('RepositoryIndex', { repository_name: '', ready: true }))['models'];
      assert.deepEqual(index.map((m: Record<string, string>) => [m['name'], m['version'], m['state']]), [['mlp', '7', 'READY']]);
    });
  } finally {
    repo.remove();
  }
});
