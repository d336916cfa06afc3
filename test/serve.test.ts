/**
 * The Open Inference Protocol server (src/serve), started in this process on 127.0.0.1 with free ports, on real
 * models run by onnxruntime-node: the protocol's documented exchanges, every datatype in JSON and as binary data,
 * 300 concurrent mixed requests checked against a plain session, and the statistics and metrics they leave.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { gunzipSync, inflateSync } from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { startServer, type InferenceServer, type ServeOptions } from '../src/serve/index.js';
import { acceptedEncoding } from '../src/serve/http/compression.js';
import { describeTritonModel } from '../src/triton/config.js';
import { loadModel } from '../src/io/files.js';
import { encodeModel } from '../src/io/codec.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { SeededRandom } from '../src/tensors/random.js';
import { fixture } from './helpers.js';
import { assertSame } from './session-helpers.js';
import { datatypeOf, infer, inferBody, metric, nest, readAnswer, type Feeds } from './serve-client.js';
import { allTypes, identityModel, modelFile, plainRun, typeFeeds, valuesOf } from './serve-types.js';

const start = (options: ServeOptions): Promise<InferenceServer> => startServer({ port: 0, metricsPort: 0, ...options });

/**
 * The model of the protocol's examples: input0 UINT32 [-1, 2], input1 BOOL [-1] -> output0 FP32 [-1, 2],
 * output0[i] = input1[i] + the column sums of input0.
 */
function goldenModel(): Uint8Array {
  return encodeModel(
    makeModel(
      makeGraph({
        name: 'mymodel',
        inputs: [makeValueInfo('input0', DT.UINT32, ['rows', 2]), makeValueInfo('input1', DT.BOOL, ['batch'])],
        outputs: [makeValueInfo('output0', DT.FLOAT, ['batch', 2])],
        nodes: [
          makeNode('Cast', ['input0'], ['f0'], { to: DT.FLOAT }),
          makeNode('ReduceSum', ['f0'], ['sums'], { keepdims: 1, axes: [0] }),
          makeNode('Cast', ['input1'], ['f1'], { to: DT.FLOAT }),
          makeNode('Unsqueeze', ['f1'], ['column'], { axes: [1] }),
          makeNode('Add', ['column', 'sums'], ['output0']),
        ],
      }),
      { opset: 12 },
    ),
  );
}

test('the protocol documentation exchanges: health, server and model metadata, infer in JSON and with binary data', { timeout: 120_000 }, async () => {
  const golden = modelFile('mymodel', goldenModel());
  // input0 is fed whole (no batch axis): its column sums are added to every row.
  const server = await start({ model: golden.file, session: { devices: ['cpu'], axes: { input0: null } } });
  try {
    const get = (p: string): Promise<Response> => fetch(`${server.url}${p}`);
    for (const p of ['/v2/health/live', '/v2/health/ready', '/v2/models/mymodel/ready', '/v2/models/mymodel/versions/1/ready']) {
      const response = await get(p);
      assert.equal(response.status, 200, p);
      assert.equal(await response.text(), '', `${p}: an empty body`);
    }
    assert.deepEqual(await (await get('/v2')).json(), { name: 'triton', version: '0.1.0', extensions: ['binary_tensor_data', 'statistics', 'model_configuration', 'model_repository'] });
    const metadata = {
      name: 'mymodel',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'input0', datatype: 'UINT32', shape: [-1, 2] },
        { name: 'input1', datatype: 'BOOL', shape: [-1] },
      ],
      outputs: [{ name: 'output0', datatype: 'FP32', shape: [-1, 2] }],
    };
    assert.deepEqual(await (await get('/v2/models/mymodel')).json(), metadata);
    assert.deepEqual(await (await get('/v2/models/mymodel/versions/1')).json(), metadata);

    // The JSON example: id echoed, data flat or nested, one output asked for.
    const json = await fetch(`${server.url}/v2/models/mymodel/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: '42',
        inputs: [
          { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
          { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, false, true] },
        ],
        outputs: [{ name: 'output0' }],
      }),
    });
    assert.equal(json.status, 200);
    assert.equal(json.headers.get('content-type'), 'application/json');
    assert.deepEqual(await json.json(), {
      model_name: 'mymodel',
      model_version: '1',
      id: '42',
      outputs: [{ name: 'output0', datatype: 'FP32', shape: [3, 2], data: [5, 7, 4, 6, 5, 7] }],
    });
    const nested = await infer(server.url, 'mymodel', { body: Buffer.from(JSON.stringify({ inputs: [
      { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [[1, 2], [3, 4]] },
      { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, false, true] },
    ] })), headers: {} });
    assert.deepEqual(Array.from(nested.outputs['output0']!.data as Float32Array), [5, 7, 4, 6, 5, 7]);

    // The binary data example: 16 bytes of input0, 3 of input1, output0 asked for as binary data.
    const header = Buffer.from(JSON.stringify({
      model_name: 'mymodel',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', parameters: { binary_data_size: 16 } },
        { name: 'input1', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
      ],
      outputs: [{ name: 'output0', parameters: { binary_data: true } }],
    }));
    const body = Buffer.concat([header, Buffer.from(new Uint32Array([1, 2, 3, 4]).buffer), Buffer.from([1, 0, 1])]);
    const binary = await fetch(`${server.url}/v2/models/mymodel/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
      body,
    });
    assert.equal(binary.status, 200);
    assert.equal(binary.headers.get('content-type'), 'application/octet-stream');
    const answer = Buffer.from(await binary.arrayBuffer());
    const length = Number(binary.headers.get('inference-header-content-length'));
    assert.equal(Number(binary.headers.get('content-length')), length + 24);
    assert.deepEqual(JSON.parse(answer.toString('utf8', 0, length)), {
      model_name: 'mymodel',
      model_version: '1',
      outputs: [{ name: 'output0', datatype: 'FP32', shape: [3, 2], parameters: { binary_data_size: 24 } }],
    });
    assert.deepEqual(Array.from(new Float32Array(new Uint8Array(answer.subarray(length)).buffer)), [5, 7, 4, 6, 5, 7]);
  } finally {
    await server.close();
    golden.remove();
  }
});


test('every datatype in JSON and as binary data, exact at the edges of its range: int64 past 2^53, FP16, UTF-8 BYTES', { timeout: 120_000 }, async () => {
  const types = modelFile('types', identityModel());
  const server = await start({ model: types.file, session: { devices: ['cpu'] } });
  try {
    const feeds = typeFeeds();
    // Binary data both ways: every value byte for byte.
    const binary = await infer(server.url, 'types', inferBody(feeds, { binary: true }));
    for (const [, type] of allTypes) assert.deepEqual(valuesOf(binary.outputs[`out_${type}`]!), valuesOf(feeds[`in_${type}`]!), `${type} as binary data`);
    assert.deepEqual(binary.header.outputs.map((o) => o.datatype), allTypes.map(([, type]) => datatypeOf[type]));

    // JSON both ways: FP16 as numbers, INT64/UINT64 past 2^53 sent as strings, BOOL as true/false.
    const halves = [0.5, -2, 65504, 0.0999755859375];
    const jsonData = (type: string): unknown[] => {
      const tensor = feeds[`in_${type}`]!;
      if (type === 'float16') return halves;
      if (type === 'bool') return Array.from(tensor.data as Uint8Array, (v) => v === 1);
      if (type === 'int64' || type === 'uint64') return Array.from(tensor.data as BigInt64Array, String);
      return Array.from(tensor.data as ArrayLike<unknown>);
    };
    const jsonRequest = (data: Record<string, unknown[]>, extra: Record<string, unknown> = {}): string =>
      JSON.stringify({ inputs: allTypes.map(([, type]) => ({ name: `in_${type}`, shape: [2, 2], datatype: datatypeOf[type], data: data[type] ?? jsonData(type) })), ...extra });
    const response = await fetch(`${server.url}/v2/models/types/infer`, { method: 'POST', body: jsonRequest({}) });
    const raw = await response.text();
    assert.equal(response.status, 200, raw);
    // INT64 and UINT64 are written as exact JSON numbers, as Triton does.
    assert.match(raw, /"name":"out_int64","datatype":"INT64","shape":\[2,2\],"data":\[-9223372036854775808,9223372036854775807,9007199254740993,-7\]/);
    assert.match(raw, /"name":"out_uint64","datatype":"UINT64","shape":\[2,2\],"data":\[0,18446744073709551615,9007199254740993,8\]/);
    const answer = JSON.parse(raw) as { outputs: Array<{ name: string; data: unknown[] }> };
    for (const [, type] of allTypes) {
      if (type === 'int64' || type === 'uint64') continue;
      assert.deepEqual(answer.outputs.find((o) => o.name === `out_${type}`)!.data, jsonData(type), `${type} as JSON`);
    }

    // Integers past 2^53 as JSON numbers: exact where JSON.parse shows a reviver the source text (Node 21+).
    const big = jsonRequest({}, { parameters: { binary_data_output: true } }).replace('"9223372036854775807","-9223372036854775808"', '9223372036854775807,-9223372036854775808');
    const asNumbers = big.replace(/"data":\["-9223372036854775808","9223372036854775807","9007199254740993","-7"\]/, '"data":[-9223372036854775808,9223372036854775807,9007199254740993,-7]');
    assert.notEqual(asNumbers, big);
    const exact = await fetch(`${server.url}/v2/models/types/infer`, { method: 'POST', body: asNumbers });
    if (Number(process.versions.node.split('.')[0]) >= 21) {
      const exactAnswer = await readAnswer(exact);
      assert.deepEqual(Array.from(exactAnswer.outputs['out_int64']!.data as BigInt64Array), [-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -7n]);
    } else {
      assert.equal(exact.status, 400);
      assert.match(((await exact.json()) as { error: string }).error, /input 'in_int64' element 0: a JSON number past 2\^53 cannot be read exactly.*send it as a string/);
    }

    // Non-finite floats travel as strings in JSON.
    const special = await fetch(`${server.url}/v2/models/types/infer`, { method: 'POST', body: jsonRequest({ float32: ['NaN', 'Infinity', '-Infinity', 1] }, { outputs: [{ name: 'out_float32' }] }) });
    assert.equal(special.status, 200);
    assert.deepEqual(((await special.json()) as { outputs: Array<{ data: unknown[] }> }).outputs[0]!.data, ['NaN', 'Infinity', '-Infinity', 1]);
  } finally {
    await server.close();
    types.remove();
  }
});

test('300 concurrent requests, JSON (flat and nested) and binary, batches 1-3: each gets its own rows, equal to a plain session; statistics and metrics count them', { timeout: 180_000 }, async () => {
  const model = fixture('two_in_two_out');
  const server = await start({ model, session: { devices: ['cpu', 'cpu'] } });
  try {
    const random = new SeededRandom(11);
    const requests = Array.from({ length: 300 }, (_, k) => {
      const batch = 1 + (k % 3);
      const feeds: Feeds = {
        features: new ort.Tensor('float32', random.floats(batch * 8), [batch, 8]),
        mask: new ort.Tensor('float32', random.floats(batch * 4), [batch, 4]),
      };
      return { feeds, batch, binary: k % 2 === 0, nested: k % 4 === 1, id: `request-${k}` };
    });
    const answers = await Promise.all(requests.map(({ feeds, binary, nested, id }) => infer(server.url, 'two_in_two_out', inferBody(feeds, { binary, nested, id }))));
    for (const [k, { feeds, binary, batch, id }] of requests.entries()) {
      assert.equal(answers[k]!.header.id, id);
      assertSame(answers[k]!.outputs, await plainRun(model, feeds), `request ${k} (${binary ? 'binary' : 'JSON'}, batch ${batch})`);
    }
    const rows = requests.reduce((sum, r) => sum + r.batch, 0);

    // Statistics and metrics count what was sent: 300 successes, one failure (an unknown input), their rows.
    const bad = await fetch(`${server.url}/v2/models/two_in_two_out/infer`, { method: 'POST', body: '{"inputs":[{"name":"nope","shape":[1],"datatype":"FP32","data":[1]}]}' });
    assert.equal(bad.status, 400);
    const stats = (await (await fetch(`${server.url}/v2/models/two_in_two_out/stats`)).json()) as { model_stats: Array<Record<string, any>> };
    assert.equal(stats.model_stats.length, 1);
    const s = stats.model_stats[0]!;
    assert.equal(s['name'], 'two_in_two_out');
    assert.equal(s['version'], '1');
    assert.equal(s['inference_count'], rows);
    assert.ok(s['execution_count'] >= 1 && s['execution_count'] < 300, `requests were merged: ${s['execution_count']} runs`);
    assert.equal(s['inference_stats'].success.count, 300);
    assert.equal(s['inference_stats'].fail.count, 1);
    assert.ok(s['inference_stats'].success.ns > 0 && s['inference_stats'].compute_infer.ns > 0);
    // The devices' time on inputs and outputs in their workers, besides onnxruntime's: all inside the requests' time.
    assert.ok(s['inference_stats'].compute_input.ns > 0 && s['inference_stats'].compute_output.ns > 0, JSON.stringify(s['inference_stats']));
    const parts = ['queue', 'compute_input', 'compute_infer', 'compute_output'].reduce((sum, k) => sum + s['inference_stats'][k].ns, 0);
    assert.ok(parts <= s['inference_stats'].success.ns, `${parts} <= ${s['inference_stats'].success.ns}`);
    const batchRuns = (s['batch_stats'] as Array<{ batch_size: number; compute_infer: { count: number } }>).reduce((sum, b) => sum + b.compute_infer.count, 0);
    assert.equal(batchRuns, s['execution_count']);
    const total = (s['batch_stats'] as Array<{ batch_size: number; compute_infer: { count: number } }>).reduce((sum, b) => sum + b.batch_size * b.compute_infer.count, 0);
    assert.equal(total, rows, 'the runs hold exactly the rows sent');
    // Each size's runs timed inside onnxruntime: together, the devices' busy time.
    const busyNs = (s['batch_stats'] as Array<{ compute_infer: { ns: number } }>).map((b) => b.compute_infer.ns);
    assert.ok(busyNs.every((ns) => ns > 0), JSON.stringify(s['batch_stats']));
    assert.deepEqual(await (await fetch(`${server.url}/v2/models/stats`)).json(), await (await fetch(`${server.url}/v2/models/two_in_two_out/versions/1/stats`)).json());

    const text = await (await fetch(server.metricsUrl!)).text();
    const labels = '{model="two_in_two_out",version="1"}';
    assert.equal(metric(text, `nv_inference_request_success${labels}`), 300);
    assert.equal(metric(text, 'nv_inference_request_failure{model="two_in_two_out",version="1",reason="OTHER"}'), 1);
    assert.equal(metric(text, 'nv_inference_request_failure{model="two_in_two_out",version="1",reason="REJECTED"}'), 0);
    assert.equal(metric(text, `nv_inference_count${labels}`), rows);
    assert.equal(metric(text, `nv_inference_exec_count${labels}`), s['execution_count']);
    assert.equal(metric(text, `nv_inference_request_duration_us${labels}`), Math.round(s['inference_stats'].success.ns / 1000));
    assert.ok(metric(text, `nv_inference_compute_infer_duration_us${labels}`) > 0);
    assert.equal(metric(text, `nv_inference_compute_input_duration_us${labels}`), Math.round(s['inference_stats'].compute_input.ns / 1000));
    assert.equal(metric(text, `nv_inference_compute_output_duration_us${labels}`), Math.round(s['inference_stats'].compute_output.ns / 1000));
    assert.ok(metric(text, `nv_inference_queue_duration_us${labels}`) >= 0);
    assert.equal(metric(text, `nv_inference_pending_request_count${labels}`), 0);
    assert.match(text, /# TYPE nv_inference_request_success counter/);
  } finally {
    await server.close();
  }
});

test('nested data must have as many values as the shape', { timeout: 60_000 }, async () => {
  const server = await start({ model: fixture('mlp'), session: { devices: ['cpu'] } });
  try {
    const values = Array.from({ length: 32 }, (_, i) => i / 10);
    const ok = await infer(server.url, 'mlp', { body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [2, 16], datatype: 'FP32', data: nest(values, [2, 16]) }] })), headers: {} });
    assert.deepEqual(ok.outputs['y']!.dims, [2, 8]);
    const short = await fetch(`${server.url}/v2/models/mlp/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [2, 16], datatype: 'FP32', data: nest(values.slice(0, 31), [2, 16]) }] }) });
    assert.equal(short.status, 400);
    assert.match(((await short.json()) as { error: string }).error, /input 'x': "data" has 31 values, but shape \[2, 16\] holds 32/);
  } finally {
    await server.close();
  }
});

test("Accept-Encoding's weights pick gzip or deflate, or nothing", () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    [undefined, undefined],
    ['', undefined],
    ['identity', undefined],
    ['br', undefined],
    ['gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['gzip, deflate', 'gzip'],
    ['deflate, gzip;q=0.5', 'deflate'],
    ['GZIP;Q=0.8, deflate;q=0.9', 'deflate'],
    ['gzip;q=0, deflate', 'deflate'],
    ['gzip;q=0, deflate;q=0', undefined],
    ['*', 'gzip'],
    ['*;q=0', undefined],
    ['gzip;q=0, *', 'deflate'],
  ];
  for (const [header, expected] of cases) assert.equal(acceptedEncoding(header), expected, String(header));
});

test('answers compressed as Accept-Encoding asks (gzip or deflate, JSON or binary) decompress to the same bytes as answers sent as they are', { timeout: 120_000 }, async () => {
  const server = await start({ model: fixture('mlp'), session: { devices: ['cpu', 'cpu'] } });
  /** POSTs with Node's http client, which (unlike fetch) leaves the body as sent. */
  const post = (request: { body: Buffer; headers: Record<string, string> }, acceptEncoding?: string): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...request.headers, ...(acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding }) };
      const sent = http.request(`${server.url}/v2/models/mlp/infer`, { method: 'POST', headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
      });
      sent.on('error', reject);
      sent.end(request.body);
    });
  try {
    const x = new ort.Tensor('float32', new SeededRandom(7).floats(64 * 16, 1), [64, 16]);
    for (const binary of [false, true]) {
      const request = inferBody({ x }, { binary });
      const plain = await post(request);
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.ok(plain.body.byteLength >= 1024, `a large answer: ${plain.body.byteLength} bytes`);
      for (const [accept, encoding, unpack] of [['gzip, deflate', 'gzip', gunzipSync], ['deflate', 'deflate', inflateSync]] as const) {
        const packed = await post(request, accept);
        const what = `${binary ? 'binary' : 'JSON'}, Accept-Encoding ${accept}`;
        assert.equal(packed.headers['content-encoding'], encoding, what);
        assert.equal(packed.headers['vary'], 'Accept-Encoding', what);
        assert.equal(Number(packed.headers['content-length']), packed.body.byteLength, what);
        assert.ok(packed.body.byteLength < plain.body.byteLength, `${what}: ${packed.body.byteLength} < ${plain.body.byteLength} bytes`);
        assert.deepEqual(unpack(packed.body), plain.body, what);
        // The JSON's length before compression, as Triton's clients read it.
        assert.equal(packed.headers['inference-header-content-length'], plain.headers['inference-header-content-length'], what);
      }
    }
    // Not asked for, or too small to gain: as it is.
    assert.equal((await post(inferBody({ x }), 'gzip;q=0')).headers['content-encoding'], undefined);
    const one = new ort.Tensor('float32', new Float32Array(16).fill(1), [1, 16]);
    const small = await post(inferBody({ x: one }, { binary: true }), 'gzip');
    assert.equal(small.headers['content-encoding'], undefined);
    assert.ok(small.body.byteLength < 1024, `${small.body.byteLength} bytes`);
  } finally {
    await server.close();
  }
});

test("/config: the model's configuration as Triton's JSON, agreeing with onnx-parallelize triton's for the same model and devices", { timeout: 180_000 }, async () => {
  const cases: Array<[string, NonNullable<ServeOptions['session']>]> = [
    ['mlp', { devices: ['cpu', 'cpu'], batching: { maxBatch: 32, maxQueueDelayMs: 0.5, preferredBatch: [8, 16] } }],
    ['two_in_two_out', { devices: ['cpu'] }],
    ['scalar_side_input', { devices: ['cpu', 'cpu'] }],
    ['lstm', { devices: ['cpu', 'cpu'] }],
    ['fixed_batch2', { devices: ['cpu'] }],
    ['mlp', { devices: ['cpu'], batching: false }],
  ];
  for (const [name, session] of cases) {
    const server = await start({ model: fixture(name), session });
    try {
      const config = (await (await fetch(`${server.url}/v2/models/${name}/config`)).json()) as Record<string, any>;
      assert.deepEqual(await (await fetch(`${server.url}/v2/models/${name}/versions/1/config`)).json(), config);
      const exported = describeTritonModel(await loadModel(fixture(name)), { devices: session.devices!, name, ...(session.batching ? { maxBatch: session.batching.maxBatch ?? 64 } : {}) }).config;
      const what = `${name} ${JSON.stringify(session)}`;
      assert.equal(config['name'], name);
      assert.equal(config['platform'], 'onnxruntime_onnx');
      const batches = exported.maxBatchSize > 0 && session.batching !== false;
      assert.equal(config['max_batch_size'] > 0, exported.maxBatchSize > 0, `${what}: batches as the export decides`);
      if (session.batching && session.batching.maxBatch !== undefined) assert.equal(config['max_batch_size'], session.batching.maxBatch, what);
      const tensors = (list: typeof exported.input): unknown[] => list.map((t) => ({ name: t.name, data_type: t.dataType, dims: t.dims, ...(t.reshape === undefined ? {} : { reshape: { shape: t.reshape } }) }));
      const pick = (list: Array<Record<string, unknown>>): unknown[] => list.map(({ name: n, data_type, dims, reshape }) => ({ name: n, data_type, dims, ...(reshape === undefined ? {} : { reshape }) }));
      assert.deepEqual(pick(config['input']), tensors(exported.input), `${what}: inputs`);
      assert.deepEqual(pick(config['output']), tensors(exported.output), `${what}: outputs`);
      assert.deepEqual(config['instance_group'].map((g: Record<string, unknown>) => [g['kind'], g['count'], g['gpus']]), exported.instanceGroup.map((g) => [g.kind, g.count, g.gpus]), `${what}: instances`);
      if (batches) {
        assert.deepEqual(config['dynamic_batching'], { preferred_batch_size: session.batching ? (session.batching.preferredBatch ?? []) : [], max_queue_delay_microseconds: session.batching ? Math.round((session.batching.maxQueueDelayMs ?? 0) * 1000) : 0 }, what);
      } else assert.equal(config['dynamic_batching'], undefined, what);
      // The model metadata's shapes are the config's dims with the batch dim first when it batches (as perf_analyzer reads them).
      const metadata = (await (await fetch(`${server.url}/v2/models/${name}`)).json()) as { inputs: Array<{ shape: number[] }> };
      metadata.inputs.forEach((input, k) => {
        const dims = config['input'][k].reshape?.shape ?? config['input'][k].dims;
        // A scalar of a model that does not batch is configured as dims [1] (Triton refuses an empty reshape there).
        const scalar = config['max_batch_size'] === 0 && config['input'][k].reshape === undefined && input.shape.length === 0;
        assert.deepEqual(input.shape, scalar ? [] : config['max_batch_size'] > 0 ? [-1, ...dims] : dims, `${what}: input ${k}`);
        if (scalar) assert.deepEqual(dims, [1], `${what}: input ${k}`);
      });
    } finally {
      await server.close();
    }
  }
});
