/**
 * The example service (examples/http-server): started on 127.0.0.1 with a free port, answered concurrently in
 * JSON and in binary form, checked against a plain onnxruntime session; bad requests get 400 naming the input;
 * SIGTERM and SIGINT end it cleanly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { infer } from '../examples/http-server/client.js';
import { encodeModel } from '../src/io/codec.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { assertSame } from './session-helpers.js';
import { SeededRandom } from '../src/tensors/random.js';
import { fixture, repoRoot, tempDir } from './helpers.js';

type Feeds = Record<string, ort.Tensor>;

const serverScript = path.join(repoRoot, 'dist/examples/http-server/server.js');

interface RunningServer {
  url: string;
  child: ChildProcess;
  /** Sends `signal` and resolves to the exit code; kills the server if it has not ended 15 s later. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

async function startServer(model: string, options: string[] = []): Promise<RunningServer> {
  const args = [serverScript, '--model', model, '--devices', 'cpu,cpu', '--port', '0', ...options];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code] = await exited;
    clearTimeout(timer);
    return code;
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`the server did not start in 60 s: ${stderr}`)), 60_000);
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match !== null) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`the server exited with code ${code}: ${stderr}`));
      });
    });
    return { url, child, stop };
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
}

async function plainRun(model: string, feeds: Feeds): Promise<Feeds> {
  const session = await ort.InferenceSession.create(model);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const post = (url: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}/infer`, { method: 'POST', body, headers, signal: AbortSignal.timeout(30_000) });

test('200 concurrent requests, JSON and binary, batches 1-3: each answer equals a plain session', { timeout: 180_000 }, async () => {
  const model = fixture('two_in_two_out');
  const server = await startServer(model);
  try {
    const random = new SeededRandom(11);
    const requests = Array.from({ length: 200 }, (_, k) => {
      const batch = 1 + (k % 3);
      const feeds: Feeds = {
        features: new ort.Tensor('float32', random.floats(batch * 8), [batch, 8]),
        mask: new ort.Tensor('float32', random.floats(batch * 4), [batch, 4]),
      };
      return { feeds, binary: k % 2 === 0 };
    });
    const answers = await Promise.all(requests.map(({ feeds, binary }) => infer(`${server.url}/infer`, feeds, { binary, signal: AbortSignal.timeout(120_000) })));
    for (const [k, { feeds, binary }] of requests.entries()) {
      assertSame(answers[k]!, await plainRun(model, feeds), `request ${k} (${binary ? 'binary' : 'JSON'}, batch ${feeds['features']!.dims[0]})`);
    }
    assert.equal(await server.stop('SIGTERM'), 0, 'SIGTERM: a clean exit');
  } finally {
    await server.stop('SIGKILL');
  }
});

/** words -> same (Identity), ids -> twice (ids + ids), flags -> negated (Not): strings, int64 and bool. */
function typesModel(): Uint8Array {
  return encodeModel(
    makeModel(
      makeGraph({
        name: 'types',
        inputs: [makeValueInfo('words', DT.STRING, ['batch', 2]), makeValueInfo('ids', DT.INT64, ['batch']), makeValueInfo('flags', DT.BOOL, ['batch'])],
        outputs: [makeValueInfo('same', DT.STRING, ['batch', 2]), makeValueInfo('twice', DT.INT64, ['batch']), makeValueInfo('negated', DT.BOOL, ['batch'])],
        nodes: [makeNode('Identity', ['words'], ['same']), makeNode('Add', ['ids', 'ids'], ['twice']), makeNode('Not', ['flags'], ['negated'])],
      }),
      { opset: 13 },
    ),
  );
}

test('the documented forms: int64 as strings, bool as true/false, binary strings and numbers byte for byte', { timeout: 120_000 }, async () => {
  const folder = tempDir();
  const model = path.join(folder, 'types.onnx');
  writeFileSync(model, typesModel());
  const server = await startServer(model);
  try {
    const big = '9007199254740993'; // 2^53 + 1: not a safe JS number
    const json = await post(server.url, JSON.stringify({
      inputs: {
        words: { type: 'string', dims: [1, 2], data: ['a', 'é'] },
        ids: { type: 'int64', dims: [1], data: [big] },
        flags: { type: 'bool', dims: [1], data: [true] },
      },
      outputs: ['twice', 'negated', 'same'],
    }), { 'content-type': 'application/json' });
    assert.equal(json.status, 200);
    assert.deepEqual(await json.json(), {
      outputs: {
        twice: { type: 'int64', dims: [1], data: ['18014398509481986'] },
        negated: { type: 'bool', dims: [1], data: [false] },
        same: { type: 'string', dims: [1, 2], data: ['a', 'é'] },
      },
    });

    // Binary, written out by hand: a header, then ids (2 x int64 LE) and words (4-byte LE length + UTF-8 each).
    const ids = Buffer.alloc(16);
    ids.writeBigInt64LE(-3n, 0);
    ids.writeBigInt64LE(1n << 40n, 8);
    const words = Buffer.concat(['x', 'ée', '', 'abc'].flatMap((w) => {
      const bytes = Buffer.from(w, 'utf8');
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.byteLength);
      return [length, bytes];
    }));
    const header = Buffer.from(JSON.stringify({
      inputs: [
        { name: 'ids', type: 'int64', dims: [2], parameters: { binary_data_size: 16 } },
        { name: 'words', type: 'string', dims: [2, 2], parameters: { binary_data_size: words.byteLength } },
        { name: 'flags', type: 'bool', dims: [2], data: [false, true] },
      ],
      outputs: [{ name: 'twice', parameters: { binary_data: true } }, { name: 'same', parameters: { binary_data: true } }, 'negated'],
    }));
    const binary = await post(server.url, Buffer.concat([header, ids, words]), {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.byteLength),
    });
    assert.equal(binary.status, 200, await binary.clone().text());
    assert.equal(binary.headers.get('content-type'), 'application/octet-stream');
    const body = Buffer.from(await binary.arrayBuffer());
    const headerLength = Number(binary.headers.get('inference-header-content-length'));
    const answer = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as { outputs: Record<string, unknown> };
    assert.deepEqual(answer.outputs, {
      twice: { type: 'int64', dims: [2], parameters: { binary_data_size: 16 } },
      same: { type: 'string', dims: [2, 2], parameters: { binary_data_size: words.byteLength } },
      negated: { type: 'bool', dims: [2], data: [true, false] },
    });
    const data = body.subarray(headerLength);
    assert.equal(data.byteLength, 16 + words.byteLength);
    assert.equal(data.readBigInt64LE(0), -6n);
    assert.equal(data.readBigInt64LE(8), 2n << 40n);
    assert.deepEqual(data.subarray(16), words, 'strings come back in the same binary form');
    assert.equal(await server.stop('SIGINT'), 0, 'SIGINT: a clean exit');
  } finally {
    await server.stop('SIGKILL');
    rmSync(folder, { recursive: true, force: true });
  }
});

test('bad requests get 400 with a short error naming the input; other paths and methods 404 and 405', { timeout: 120_000 }, async () => {
  const server = await startServer(fixture('mlp'));
  try {
    const x = (tensor: object): string => JSON.stringify({ inputs: { x: tensor } });
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      [x({ type: 'float32', dims: [1, 16], data: [1, 2] }), {}, /input 'x': "data" has 2 values, dims \[1, 16\] need 16/],
      [x({ type: 'float32', dims: [1, 4], data: [1, 2, 3, 4] }), {}, /input 'x' dim 1 must be 16, got 4/],
      [x({ type: 'int32', dims: [1, 16], data: Array(16).fill(1) }), {}, /input 'x' must be float32, got int32/],
      [x({ type: 'complex', dims: [1], data: [1] }), {}, /input 'x': unknown type "complex"/],
      [x({ type: 'float32', dims: [1, 16], data: [...Array(15).fill(1), 'one'] }), {}, /input 'x': element 15 is "one", expected a number/],
      [x({ type: 'float32', dims: [1, 16], parameters: { binary_data_size: 64 } }), {}, /input 'x': binary_data_size 64 runs past the 0 bytes of binary data left/],
      [x({ type: 'float32', dims: [1, 16], data: Array(16).fill(0) }), { 'inference-header-content-length': '100000' }, /Inference-Header-Content-Length: expected a byte count/],
      [JSON.stringify({ inputs: { y: { type: 'float32', dims: [1, 16], data: Array(16).fill(0) } } }), {}, /'y' is not an input|input 'x' is missing/],
      [JSON.stringify({ inputs: { x: { type: 'float32', dims: [1, 16], data: Array(16).fill(0) } }, outputs: ['z'] }), {}, /"outputs": "z" is not an output/],
      ['{"inputs": ', {}, /the JSON header does not parse/],
    ];
    for (const [body, headers, pattern] of cases) {
      const response = await post(server.url, body, { 'content-type': 'application/json', ...headers });
      const answer = (await response.json()) as { error: string };
      assert.equal(response.status, 400, `${body}: ${answer.error}`);
      assert.match(answer.error, pattern);
      assert.ok(answer.error.length < 300 && !answer.error.includes('\n    at '), `short, no stack trace: ${answer.error}`);
    }
    assert.equal((await fetch(`${server.url}/other`)).status, 404);
    assert.equal((await fetch(`${server.url}/infer`)).status, 405);
    const health = (await (await fetch(`${server.url}/health`)).json()) as { ready: boolean; devices: string[] };
    assert.deepEqual(health.devices, ['cpu', 'cpu']);
    // Still answering after all that.
    const ok = await post(server.url, x({ type: 'float32', dims: [2, 16], data: Array(32).fill(0.5) }));
    assert.equal(ok.status, 200);
    assert.equal(await server.stop('SIGTERM'), 0);
  } finally {
    await server.stop('SIGKILL');
  }
});

test('a full queue gets 503 with Retry-After; bad options end the server at start with exit code 2', { timeout: 120_000 }, async () => {
  // --max-queue 0: no request may wait, so every one is turned away at once.
  const server = await startServer(fixture('mlp'), ['--max-queue', '0']);
  try {
    const response = await post(server.url, JSON.stringify({ inputs: { x: { type: 'float32', dims: [1, 16], data: Array(16).fill(1) } } }));
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '1');
    assert.match(((await response.json()) as { error: string }).error, /queue is full/);
    assert.equal(await server.stop('SIGTERM'), 0);
  } finally {
    await server.stop('SIGKILL');
  }
  for (const [args, pattern] of [
    [['--port', '70000'], /--port \(PORT\): expected a whole number from 0 to 65535, got '70000'/],
    [['--timeout-ms', '0'], /--timeout-ms \(TIMEOUT_MS\): expected a whole number from 1/],
    [['--max-body-bytes', '0'], /--max-body-bytes \(MAX_BODY_BYTES\): expected a whole number from 1/],
    [['--devices', 'gpu'], /'gpu' is not a device/],
    [['--model', path.join(repoRoot, 'no-such-model.onnx')], /no-such-model\.onnx/],
  ] as const) {
    const result = spawnSync(process.execPath, [serverScript, '--model', fixture('mlp'), '--devices', 'cpu', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  }
});

/** x [batch, 512] -> y = x through 4,000 MatMuls by the identity: about 9 ms per row here, slow on purpose. */
function slowModelFile(): { file: string; remove: () => void } {
  const width = 512;
  const identity = new Float32Array(width * width);
  for (let i = 0; i < width; i++) identity[i * width + i] = 1;
  const nodes = Array.from({ length: 4000 }, (_, k) => makeNode('MatMul', [k === 0 ? 'x' : `h${k}`, 'w'], [k === 3999 ? 'y' : `h${k + 1}`]));
  const model = makeModel(
    makeGraph({
      name: 'slow',
      inputs: [makeValueInfo('x', DT.FLOAT, ['batch', width])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['batch', width])],
      nodes,
      initializers: [makeTensor('w', DT.FLOAT, [width, width], identity)],
    }),
    { opset: 13 },
  );
  const dir = tempDir();
  const file = path.join(dir, 'slow.onnx');
  writeFileSync(file, encodeModel(model));
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const rows = (batch: number): string => JSON.stringify({ inputs: { x: { type: 'float32', dims: [batch, 512], data: Array(batch * 512).fill(0.5) } } });

test('past --timeout-ms a request gets 504, a body past --max-body-bytes 413; the server goes on answering', { timeout: 120_000 }, async () => {
  const slow = slowModelFile();
  const server = await startServer(slow.file, ['--timeout-ms', '20', '--max-body-bytes', '200000']);
  try {
    // 96 rows (about 197 KB of JSON) take about 400 ms here, 48 on each device: far past 20 ms.
    const late = await post(server.url, rows(96), { 'content-type': 'application/json' });
    assert.equal(late.status, 504);
    assert.match(((await late.json()) as { error: string }).error, /timed out after 20 ms/);
    // 128 rows of JSON are about 262 KB.
    const large = await post(server.url, rows(128), { 'content-type': 'application/json' });
    assert.equal(large.status, 413);
    assert.equal(large.headers.get('connection'), 'close');
    assert.match(((await large.json()) as { error: string }).error, /the body is over 200000 bytes/);
    const stats = (await (await fetch(`${server.url}/stats`)).json()) as { total: { rows: number }; queued: number };
    assert.equal(stats.queued, 0);
    assert.ok(stats.total.rows <= 96, `the 413 body never ran: ${JSON.stringify(stats.total)}`);
    assert.equal(await server.stop('SIGTERM'), 0);
  } finally {
    await server.stop('SIGKILL');
    slow.remove();
  }
});

test('a client that disconnects takes its queued request out: it never runs', { timeout: 120_000 }, async () => {
  const slow = slowModelFile();
  const server = await startServer(slow.file);
  try {
    type Stats = { total: { rows: number; queueDepth: number }; queued: number };
    const stats = async (): Promise<Stats> => (await (await fetch(`${server.url}/stats`)).json()) as Stats;
    // 256 rows split over both devices keep them busy for about a second here; a request sent meanwhile waits.
    const busy = post(server.url, rows(256), { 'content-type': 'application/json' });
    while ((await stats()).total.queueDepth === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const gone = new AbortController();
    const waiting = fetch(`${server.url}/infer`, { method: 'POST', body: rows(1), headers: { 'content-type': 'application/json' }, signal: gone.signal });
    // Disconnect once the server has the request queued.
    while ((await stats()).queued === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    gone.abort();
    await assert.rejects(waiting, { name: 'AbortError' });
    assert.equal((await busy).status, 200);
    // Had the request stayed queued, a device would have taken it as soon as the 256 rows were done.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await stats();
    assert.equal(after.queued, 0);
    assert.equal(after.total.rows, 256, `only the 256 rows ran: ${JSON.stringify(after.total)}`);
    assert.equal(await server.stop('SIGTERM'), 0);
  } finally {
    await server.stop('SIGKILL');
    slow.remove();
  }
});
