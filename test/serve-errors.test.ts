/**
 * Every error the server answers, each checked on the real server and model: 400 naming the input for each way a
 * request can be wrong, 404, 405, 413, 415, 503 with Retry-After past the queue limit and while shutting down,
 * 504 past the timeout, a disconnecting client's request taken out of the queue, and the server answering on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { startServer, type InferenceServer, type ServeOptions } from '../src/serve/index.js';
import { connectionClosed } from '../src/serve/http/connection-closed.js';
import { fixture } from './helpers.js';
import { metric, slowModelFile, slowRows, statusOf, waitFor } from './serve-client.js';

const start = (options: ServeOptions): Promise<InferenceServer> => startServer({ port: 0, metricsPort: 0, ...options });

const x = (entry: Record<string, unknown>): string => JSON.stringify({ inputs: [{ name: 'x', shape: [1, 16], datatype: 'FP32', ...entry }] });
const ones = Array(16).fill(1);

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; error: string; headers: Headers }> {
  const response = await fetch(`${url}/v2/models/mlp/infer`, { method: 'POST', body, headers, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  return { status: response.status, error: text === '' ? '' : ((JSON.parse(text) as { error?: string }).error ?? ''), headers: response.headers };
}

test('bad requests get 400 with one short line naming the input; other paths, models, versions and methods 404 and 405', { timeout: 120_000 }, async () => {
  const server = await start({ model: fixture('mlp'), session: { devices: ['cpu', 'cpu'] } });
  try {
    /** A request whose input declares `size` bytes of binary data, with `bytes` bytes after the JSON. */
    const binary = (size: number, bytes: number, pattern: RegExp, extra: Record<string, unknown> = {}): [Buffer, Record<string, string>, RegExp] => {
      const header = Buffer.from(x({ parameters: { binary_data_size: size }, ...extra }));
      return [Buffer.concat([header, Buffer.alloc(bytes)]), { 'inference-header-content-length': String(header.byteLength) }, pattern];
    };
    const cases: Array<[string | Buffer, Record<string, string>, RegExp]> = [
      [x({ data: [1, 2] }), {}, /^input 'x': "data" has 2 values, but shape \[1, 16\] holds 16$/],
      [x({ shape: [1, 4], data: [1, 2, 3, 4] }), {}, /input 'x' dim 1 must be 16, got 4/],
      [x({ datatype: 'INT32', data: ones }), {}, /^input 'x': datatype INT32, but the model takes FP32$/],
      [x({ datatype: 'COMPLEX64', data: ones }), {}, /^input 'x': unknown datatype "COMPLEX64"; use one of BOOL, /],
      [x({ datatype: 'BF16', data: ones }), {}, /^input 'x': datatype BF16, but the model takes FP32$/],
      [x({ data: [...Array(15).fill(1), 'one'] }), {}, /^input 'x': element 15 is "one", expected a number/],
      [x({ data: [...Array(15).fill(1), null] }), {}, /^input 'x': element 15 is null, expected a number/],
      [x({ data: [...Array(15).fill(1), [1]] }), {}, /^input 'x': element 15 is \[1\], expected a number/],
      [x({ shape: [1, -16], data: ones }), {}, /^input 'x': "shape" must be a list of whole numbers >= 0/],
      [x({ shape: 'big', data: ones }), {}, /^input 'x': "shape" must be a list/],
      [x({ shape: [2 ** 40, 2 ** 40], data: ones }), {}, /^input 'x': shape \[1099511627776, 1099511627776\] holds more than 2\^53 elements$/],
      [x({}), {}, /^input 'x': expected "data" \(the values, row-major, flat or nested\) or parameters.binary_data_size$/],
      // Truncated binary data, a huge declared length, a size that disagrees with the shape, bytes left over.
      binary(64, 40, /^input 'x': binary_data_size 64 runs past the 40 bytes of binary data left in the body$/),
      binary(1e15, 64, /^input 'x': binary_data_size 1000000000000000 runs past the 64 bytes/),
      binary(60, 60, /^input 'x': binary_data_size is 60 bytes, but the shape holds 16 FP32 elements \(64 bytes\)$/),
      binary(64, 70, /^6 bytes of binary data after the JSON belong to no input/),
      binary(-1, 64, /^input 'x': binary_data_size must be a whole number of bytes, got -1$/),
      binary(64, 64, /^input 'x': give "data" or parameters.binary_data_size, not both$/, { data: ones }),
      [x({ data: ones }), { 'inference-header-content-length': '100000' }, /^Inference-Header-Content-Length: expected the JSON's length in bytes, at most the body's \d+, got '100000'$/],
      [x({ data: ones }), { 'inference-header-content-length': '-5' }, /^Inference-Header-Content-Length: .* got '-5'$/],
      [x({ data: ones }), { 'inference-header-content-length': '10' }, /^the request's JSON does not parse/],
      [x({ data: ones, parameters: { shared_memory_region: 'r' } }), {}, /^input 'x': shared memory is not supported/],
      [JSON.stringify({ inputs: [{ name: 'y', shape: [1, 16], datatype: 'FP32', data: ones }] }), {}, /^input 'y': not an input of the model \(its inputs: x\)$/],
      [JSON.stringify({ inputs: [] }), {}, /input 'x' is missing/],
      [JSON.stringify({ inputs: { x: {} } }), {}, /^"inputs" must be a list of \{"name", "shape", "datatype", "data"\}; the model's inputs: x$/],
      [JSON.stringify({ inputs: [{ shape: [1] }] }), {}, /^inputs\[0\]: expected an object with a "name"$/],
      [JSON.stringify({ inputs: [JSON.parse(x({ data: ones })).inputs[0], JSON.parse(x({ data: ones })).inputs[0]] }), {}, /^input 'x': given twice$/],
      [JSON.stringify({ ...JSON.parse(x({ data: ones })), outputs: [{ name: 'z' }] }), {}, /^output 'z': not an output of the model \(its outputs: y\)$/],
      [JSON.stringify({ ...JSON.parse(x({ data: ones })), outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }), {}, /^output 'y': binary_data must be true or false$/],
      [JSON.stringify({ ...JSON.parse(x({ data: ones })), id: 42 }), {}, /^"id" must be a string, got 42$/],
      ['{"inputs": ', {}, /^the request's JSON does not parse/],
      ['[1, 2]', {}, /^the request must be a JSON object with "inputs"$/],
      ['', {}, /^the request's JSON does not parse/],
    ];
    for (const [body, headers, pattern] of cases) {
      const answer = await post(server.url, body, headers);
      assert.equal(answer.status, 400, `${String(body).slice(0, 120)}: ${answer.error}`);
      assert.match(answer.error, pattern);
      assert.ok(answer.error.length < 300 && !answer.error.includes('\n'), `one short line: ${answer.error}`);
    }
    const notFound: Array<[string, RegExp]> = [
      ['/v2/models/other', /^Request for unknown model: 'other' is not found$/],
      ['/v2/models/other/ready', /^Request for unknown model: 'other' is not found$/],
      ['/v2/models/mlp/versions/2', /^Request for unknown model: 'mlp' version 2 is not found$/],
      ['/v2/models/mlp/versions/2/stats', /^Request for unknown model: 'mlp' version 2 is not found$/],
      ['/v1/models/mlp', /^no such path: \/v1\/models\/mlp; the protocol's paths start with \/v2/],
      ['/v2/models/mlp/extra/path', /^no such path/],
    ];
    for (const [p, pattern] of notFound) {
      const response = await fetch(`${server.url}${p}`);
      assert.equal(response.status, 404, p);
      assert.match(((await response.json()) as { error: string }).error, pattern);
    }
    assert.equal(await statusOf(`${server.url}/v2/models/other/infer`, { method: 'POST', body: x({ data: ones }) }), 404);
    // Triton's extensions this server does not have: 501, with what to use instead, whatever the method.
    const unsupported: Array<[string, string, RegExp]> = [
      ['POST', '/v2/systemsharedmemory/region/r/register', /^this server does not support system shared memory \(Triton's shared-memory extension\): send each input's data in the request/],
      ['GET', '/v2/systemsharedmemory/status', /^this server does not support system shared memory/],
      ['POST', '/v2/cudasharedmemory/unregister', /^this server does not support CUDA shared memory/],
      ['GET', '/v2/trace/setting', /^this server does not support tracing/],
      ['POST', '/v2/models/mlp/trace/setting', /^this server does not support tracing/],
      ['GET', '/v2/logging', /^this server does not support changing its log settings/],
    ];
    for (const [method, p, pattern] of unsupported) {
      const response = await fetch(`${server.url}${p}`, { method, ...(method === 'POST' ? { body: '{"key": "/k", "offset": 0, "byte_size": 64}' } : {}) });
      assert.equal(response.status, 501, `${method} ${p}`);
      assert.match(((await response.json()) as { error: string }).error, pattern);
    }
    const getInfer = await fetch(`${server.url}/v2/models/mlp/infer`);
    await getInfer.arrayBuffer();
    assert.equal(getInfer.status, 405);
    assert.equal(getInfer.headers.get('allow'), 'POST');
    assert.equal(await statusOf(`${server.url}/v2/health/ready`, { method: 'POST' }), 405);
    assert.equal(await statusOf(server.metricsUrl!.replace('/metrics', '/other')), 404);
    // A body compressed with gzip is taken; an unknown encoding is 415.
    const zipped = await post(server.url, gzipSync(x({ data: ones })), { 'content-encoding': 'gzip' });
    assert.equal(zipped.status, 200);
    const brotli = await post(server.url, x({ data: ones }), { 'content-encoding': 'br' });
    assert.equal(brotli.status, 415);
    assert.match(brotli.error, /^Content-Encoding 'br' is not supported/);
    const notZipped = await post(server.url, x({ data: ones }), { 'content-encoding': 'gzip' });
    assert.equal(notZipped.status, 400);
    // Still answering, and every failure counted.
    assert.equal((await post(server.url, x({ data: ones }))).status, 200);
    const text = await (await fetch(server.metricsUrl!)).text();
    assert.equal(metric(text, 'nv_inference_request_failure{model="mlp",version="1",reason="OTHER"}'), cases.length + 2);
    assert.equal(metric(text, 'nv_inference_request_success{model="mlp",version="1"}'), 2);
  } finally {
    await server.close();
  }
});

test('a full queue gets 503 with Retry-After; a body past maxBodyBytes 413 and the connection closed', { timeout: 120_000 }, async () => {
  // maxQueue 0: no request may wait, so every one is turned away at once.
  const server = await start({ model: fixture('mlp'), session: { devices: ['cpu'], maxQueue: 0 }, maxBodyBytes: 1000 });
  try {
    const full = await post(server.url, x({ data: ones }));
    assert.equal(full.status, 503);
    assert.equal(full.headers.get('retry-after'), '1');
    assert.match(full.error, /queue is full/);
    const large = await post(server.url, x({ data: Array(16).fill(0.123456789) }).padEnd(1001, ' '));
    assert.equal(large.status, 413);
    assert.equal(large.headers.get('connection'), 'close');
    assert.match(large.error, /^the request body is over 1000 bytes; send less \(or raise --max-body-bytes\)$/);
    // Without a declared length (chunked), the limit holds as the body is read.
    const chunked = await new Promise<number>((resolve, reject) => {
      const request = http.request(`${server.url}/v2/models/mlp/infer`, { method: 'POST' }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on('error', reject);
      for (let k = 0; k < 5; k++) request.write(' '.repeat(400));
      request.end();
    });
    assert.equal(chunked, 413);
    const text = await (await fetch(server.metricsUrl!)).text();
    assert.equal(metric(text, 'nv_inference_request_failure{model="mlp",version="1",reason="REJECTED"}'), 1);
  } finally {
    await server.close();
  }
});

test('past timeoutMs a request gets 504; a client that disconnects takes its queued request out: it never runs', { timeout: 180_000 }, async () => {
  const slow = slowModelFile();
  const server = await start({ model: slow.file, name: 'slow', session: { devices: ['cpu', 'cpu'] }, timeoutMs: 20 });
  try {
    // 96 rows take hundreds of ms here, 48 on each device: far past 20 ms.
    const request = slowRows(96);
    const late = await fetch(`${server.url}/v2/models/slow/infer`, { method: 'POST', body: request.body, headers: request.headers });
    assert.equal(late.status, 504);
    assert.match(((await late.json()) as { error: string }).error, /timed out after 20 ms/);
  } finally {
    await server.close();
  }

  const patient = await start({ model: slow.file, name: 'slow', session: { devices: ['cpu'] } });
  try {
    const url = patient.url;
    const metrics = patient.metricsUrl!;
    const stats = async (): Promise<{ inference_count: number }> =>
      ((await (await fetch(`${url}/v2/models/slow/stats`)).json()) as { model_stats: Array<{ inference_count: number }> }).model_stats[0]!;
    const waiting = async (): Promise<number> => metric(await (await fetch(metrics)).text(), 'nv_inference_pending_request_count{model="slow",version="1"}');
    // 128 rows keep the device busy for a while; a request sent meanwhile waits in the queue.
    const busyRequest = slowRows(128);
    const busy = fetch(`${url}/v2/models/slow/infer`, { method: 'POST', body: busyRequest.body, headers: busyRequest.headers });
    await waitFor('the busy request to be running', async () => (await waiting()) === 1);
    const gone = new AbortController();
    const one = slowRows(1);
    const dropped = fetch(`${url}/v2/models/slow/infer`, { method: 'POST', body: one.body, headers: one.headers, signal: gone.signal });
    await waitFor('the second request to be queued', async () => (await waiting()) === 2);
    gone.abort();
    await assert.rejects(dropped, { name: 'AbortError' });
    await waitFor('the disconnect to be noticed', async () => (await waiting()) === 1);
    assert.equal((await busy).status, 200);
    // Had it stayed queued, the device would have run it as soon as the 128 rows were done.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await stats()).inference_count, 128, 'only the 128 rows ran');
    const text = await (await fetch(metrics)).text();
    assert.equal(metric(text, 'nv_inference_request_failure{model="slow",version="1",reason="CANCELED"}'), 1);
    assert.equal(metric(text, 'nv_inference_exec_count{model="slow",version="1"}'), 1);
  } finally {
    await patient.close();
    slow.remove();
  }
});

test('close(): not ready at once, new requests 503, requests in progress answered, then the session released', { timeout: 180_000 }, async () => {
  const slow = slowModelFile();
  const server = await start({ model: slow.file, name: 'slow', session: { devices: ['cpu', 'cpu'] }, drainMs: 60_000 });
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (p: string): Promise<number> =>
      new Promise((resolve, reject) => {
        http.get(`${server.url}${p}`, { agent }, (response) => {
          response.resume();
          resolve(response.statusCode!);
        }).on('error', reject);
      });
    assert.equal(await get('/v2/health/ready'), 200);
    const requests = [8, 8, 16].map((rows) => slowRows(rows));
    const inFlight = requests.map((r) => fetch(`${server.url}/v2/models/slow/infer`, { method: 'POST', body: r.body, headers: r.headers }));
    await waitFor('three requests in flight', () => server.inFlight === 3);
    const closed = server.close();
    assert.equal(server.ready, false);
    // The open keep-alive connection still answers: not ready, and no new inference.
    assert.equal(await get('/v2/health/ready'), 503);
    assert.equal(await get('/v2/health/live'), 200);
    const late = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const body = slowRows(1).body;
      const request = http.request(`${server.url}/v2/models/slow/infer`, { method: 'POST', agent }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: response.statusCode!, body: text }));
      });
      request.on('error', reject);
      request.end(body);
    });
    assert.equal(late.status, 503);
    assert.match(late.body, /shutting down/);
    const answers = await Promise.all(inFlight);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200], 'every request in progress is answered');
    await closed;
    agent.destroy();
    await assert.rejects(fetch(`${server.url}/v2/health/live`), 'no longer listening');
  } finally {
    await server.close();
    slow.remove();
  }
});

test("a connection's close signal: one per connection, aborted when it closes, and at once for a socket already gone", { timeout: 30_000 }, async () => {
  const listener = net.createServer();
  const accepted: net.Socket[] = [];
  listener.on('connection', (socket) => accepted.push(socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as net.AddressInfo;
  const connect = async (): Promise<net.Socket> => {
    const count = accepted.length;
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');
    await waitFor('the connection to be accepted', async () => accepted.length > count);
    client.on('error', () => {});
    return client;
  };
  try {
    const first = await connect();
    const open = accepted[0]!;
    const signal = connectionClosed(open);
    assert.equal(connectionClosed(open), signal, 'the same signal for every request of a connection');
    assert.equal(signal.aborted, false);
    first.destroy();
    await waitFor('the close to abort the signal', async () => signal.aborted);
    assert.match(String((signal.reason as Error).message), /closed the connection/);

    await connect();
    const gone = accepted[1]!;
    gone.destroy();
    await once(gone, 'close');
    assert.equal(connectionClosed(gone).aborted, true, 'a socket closed before its first request was queued');
  } finally {
    for (const socket of accepted) socket.destroy();
    listener.close();
  }
});
