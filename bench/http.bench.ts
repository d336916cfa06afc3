/**
 * HTTP serving benchmark: `onnx-parallelize serve`'s server (src/serve) under load from autocannon, keep-alive,
 * batch-1 requests on the 4x1024 MLP (cycling through 64 different rows), each server in a child process of its own. Contenders are timed pair by pair
 * in mirrored order (A B B A, then B A A B), BENCH_SECONDS (3) per run, BENCH_ROUNDS (3) rounds; the medians of
 * the per-pair ratios are printed with their quartiles.
 *  - concurrency 64, binary requests: the server on ParallelSession cpu,cpu against the same server on one plain
 *    single-thread InferenceSession, throughput (target >= 3.0x);
 *  - the same with the dynamic batcher set as `serve --max-batch 32 --max-queue-delay-us 2000` sets it (fuller
 *    runs, fewer of them: each run costs the server a wake-up of a device's thread);
 *  - concurrency 64, ParallelSession cpu,cpu: binary requests against JSON requests, throughput (target >= 1.5x);
 *  - concurrency 1, binary requests: the server's p50 latency (a keep-alive node:http client, timed per request)
 *    against calling ParallelSession cpu,cpu in this process (target <= +150 µs); a bare node:http server
 *    answering the same bytes without running anything shows what the HTTP exchange alone costs here;
 *  - gRPC against HTTP on the same server (ParallelSession cpu,cpu), both driven by a closed loop in this process
 *    (raw_input_contents on one HTTP/2 connection, sent by a @grpc/grpc-js client and by a bare node:http2
 *    sender; binary data on keep-alive node:http connections): concurrency 64 throughput (target >= 1.0x) and
 *    concurrency 1 p50 latency (target: gRPC <= HTTP).
 * BENCH_ONLY=grpc runs the gRPC comparison alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { closedLoop, summarize, type LoadSummary } from '../src/runtime/load/load-generator.js';
import { SeededRandom } from '../src/tensors/random.js';
import { median, mlpModel, quantile } from './harness.js';
import { bareGrpcSender, grpcSender } from './grpc-sender.js';

const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const width = 1024;

interface Server {
  url: string;
  /** The gRPC endpoint's HOST:PORT (the library's server only). */
  grpc: string | undefined;
  child: ChildProcess;
}

async function startChild(model: string, kind: 'parallel' | 'batched' | 'plain' | 'echo' | 'grpc-echo'): Promise<Server> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'http-server-child.js');
  const child = spawn(process.execPath, [script, model, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (text: string) => resolve(text.trim()));
    child.once('exit', (code) => reject(new Error(`the ${kind} server exited with code ${code}`)));
  });
  const [url, grpc] = line.split(' ');
  return { url: url!, grpc, child };
}

const stopChild = (server: Server): Promise<unknown> => new Promise((resolve) => {
  server.child.once('exit', resolve);
  server.child.stdin!.end();
});

const x = new SeededRandom(1).floats(width);
const path64 = '/v2/models/mlp-4x1024/infer';
/** Distinct rows that the load cycles through: the same row every time would let V8's cache of number strings write a JSON answer's numbers for free. */
const variants = Array.from({ length: 64 }, (_, k) => new SeededRandom(100 + k).floats(width));

/** A batch-1 request for row `row`: binary data both ways, or JSON both ways. */
function requestOf(binary: boolean, row: Float32Array): { body: Buffer; headers: Record<string, string> } {
  if (!binary) {
    return { body: Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, width], datatype: 'FP32', data: Array.from(row) }] })), headers: { 'content-type': 'application/json' } };
  }
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, width], datatype: 'FP32', parameters: { binary_data_size: width * 4 } }], parameters: { binary_data_output: true } }));
  return {
    body: Buffer.concat([header, Buffer.from(row.buffer, row.byteOffset, row.byteLength)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.byteLength) },
  };
}

interface Contender {
  name: string;
  server: Server;
  binary: boolean;
}

/** Requests per second answered with 200 in one autocannon run at `connections`. */
async function load(c: Contender, connections: number, duration: number): Promise<number> {
  const requests = variants.map((row) => ({ method: 'POST' as const, ...requestOf(c.binary, row) }));
  const result = await autocannon({ url: `${c.server.url}${path64}`, connections, pipelining: 1, duration, requests });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${c.name}: ${result.non2xx} answers other than 2xx, ${result.errors} errors`);
  return result['2xx'] / (result.duration ?? duration);
}

const settle = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 200));

/** Per-round throughputs of a and b at `connections`, timed A B B A (B A A B on odd rounds). */
async function pairs(a: Contender, b: Contender, connections: number): Promise<Array<{ a: number; b: number }>> {
  for (const c of [a, b]) await load(c, connections, 1); // warm-up
  const result = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [a, b, b, a] : [b, a, a, b];
    const measured = new Map<Contender, number[]>([[a, []], [b, []]]);
    for (const c of order) {
      await settle();
      measured.get(c)!.push(await load(c, connections, seconds / 2));
    }
    const mean = (values: number[]): number => values.reduce((s, v) => s + v, 0) / values.length;
    result.push({ a: mean(measured.get(a)!), b: mean(measured.get(b)!) });
  }
  return result;
}

const spread = (values: number[], digits = 2): string => `quartiles ${quantile(values, 0.25).toFixed(digits)} to ${quantile(values, 0.75).toFixed(digits)}`;

/** One binary request over a keep-alive connection (of `sockets`), resolved when its answer has been read; `rows` cycled through. */
function httpSender(url: string, sockets = 1, rows: readonly Float32Array[] = [x]): { send: () => Promise<void>; agent: http.Agent } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const bodies = rows.map((row) => requestOf(true, row));
  const target = new URL(`${url}${path64}`);
  let next = 0;
  const send = (): Promise<void> => new Promise((resolve, reject) => {
    const { body, headers } = bodies[next++ % bodies.length]!;
    const request = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { ...headers, 'content-length': body.byteLength } }, (response) => {
      if (response.statusCode !== 200) reject(new Error(`status ${response.statusCode}`));
      response.on('data', () => {}).on('end', resolve);
    });
    request.on('error', reject);
    request.end(body);
  });
  return { send, agent };
}

console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, onnxruntime-node ${ort.env.versions.node}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`autocannon, keep-alive, batch-1 requests on the 4x${width} MLP; ${rounds} rounds of pairs (A B B A, then B A A B), ${seconds} s per contender per round; each server in its own process`);

type Send = () => Promise<unknown>;

/** Closed-loop summaries of `a` and `b` at `concurrency`, per round, timed A B B A (B A A B on odd rounds). */
async function loopPairs(a: Send, b: Send, concurrency: number, runMs: number, roundCount: number): Promise<Array<{ a: LoadSummary; b: LoadSummary }>> {
  for (const send of [a, b]) await closedLoop(send, { concurrency, durationMs: 300 }); // warm-up
  const result = [];
  for (let round = 0; round < roundCount; round++) {
    const order = round % 2 === 0 ? [a, b, b, a] : [b, a, a, b];
    const runs = new Map<Send, Awaited<ReturnType<typeof closedLoop>>[]>([[a, []], [b, []]]);
    for (const send of order) {
      await settle();
      runs.get(send)!.push(await closedLoop(send, { concurrency, durationMs: runMs / 2 }));
    }
    result.push({ a: summarize(runs.get(a)!, 1), b: summarize(runs.get(b)!, 1) });
  }
  return result;
}

/** Per-round ratios of b to a: throughput (b over a) or p50 (b minus a, in µs). */
const throughputRatios = (loads: Array<{ a: LoadSummary; b: LoadSummary }>): number[] => loads.map((p) => p.b.throughput / p.a.throughput);
const p50Differences = (loads: Array<{ a: LoadSummary; b: LoadSummary }>): number[] => loads.map((p) => (p.b.p50 - p.a.p50) * 1000);
const signed = (value: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(0)}`;

/**
 * gRPC (raw_input_contents) against HTTP (binary data) on the same server: concurrency 64 throughput and
 * concurrency 1 p50, each with two gRPC load generators: a @grpc/grpc-js client, and a bare node:http2 sender
 * (about as lean per call as the node:http client of the HTTP side), which shows the server's own cost apart
 * from the grpc-js client's on a machine where the load generator shares the server's cores.
 */
async function grpcAgainstHttp(server: Server): Promise<void> {
  const senders = (rows: readonly Float32Array[], sockets: number) => ({
    http: httpSender(server.url, sockets, rows),
    grpcJs: grpcSender(server.grpc!, 'mlp-4x1024', rows),
    bare: bareGrpcSender(server.grpc!, 'mlp-4x1024', rows),
  });
  const close = (s: ReturnType<typeof senders>): void => {
    s.http.agent.destroy();
    s.grpcJs.close();
    s.bare.close();
  };
  const wide = senders(variants, 64);
  try {
    for (const [label, grpc] of [['gRPC (bare HTTP/2 sender)', wide.bare], ['gRPC (@grpc/grpc-js client)', wide.grpcJs]] as const) {
      const loads = await loopPairs(wide.http.send, grpc.send, 64, seconds * 1000, rounds);
      const ratios = throughputRatios(loads);
      const ratio = median(ratios);
      console.log(`concurrency 64, serve cpu,cpu, closed loop in this process, median infer/s: HTTP binary ${median(loads.map((p) => p.a.throughput)).toFixed(0)}, ${label} ${median(loads.map((p) => p.b.throughput)).toFixed(0)}`);
      console.log(`${label} vs HTTP binary, concurrency 64, throughput: ${ratio.toFixed(2)}x, ${spread(ratios)} (target >= 1.00x) ${ratio >= 1 ? 'OK' : 'UNDER'}`);
    }
  } finally {
    close(wide);
  }
  const single = senders([x], 1);
  const [echo, grpcEcho] = await Promise.all([startChild(model, 'echo'), startChild(model, 'grpc-echo')]);
  const bareHttp = httpSender(echo.url);
  const bareGrpc = bareGrpcSender(grpcEcho.grpc!, 'mlp-4x1024', [x]);
  try {
    const exchanges = await loopPairs(bareHttp.send, bareGrpc.send, 1, seconds * 1000, rounds);
    console.log(`concurrency 1, median p50 µs of a bare exchange of the same bytes, running nothing: node:http ${(median(exchanges.map((p) => p.a.p50)) * 1000).toFixed(0)}, @grpc/grpc-js server (bare HTTP/2 sender) ${(median(exchanges.map((p) => p.b.p50)) * 1000).toFixed(0)} (reference)`);
    for (const [label, grpc] of [['gRPC (bare HTTP/2 sender)', single.bare], ['gRPC (@grpc/grpc-js client)', single.grpcJs]] as const) {
      const loads = await loopPairs(single.http.send, grpc.send, 1, seconds * 1000, rounds * 2);
      const differences = p50Differences(loads);
      const difference = median(differences);
      console.log(`concurrency 1, serve cpu,cpu, median p50 µs: HTTP binary ${(median(loads.map((p) => p.a.p50)) * 1000).toFixed(0)}, ${label} ${(median(loads.map((p) => p.b.p50)) * 1000).toFixed(0)}`);
      console.log(`${label} p50 minus HTTP p50, concurrency 1: ${signed(difference)} µs, quartiles ${signed(quantile(differences, 0.25))} to ${signed(quantile(differences, 0.75))} (target <= 0 µs) ${difference <= 0 ? 'OK' : 'OVER'}`);
    }
  } finally {
    close(single);
    bareHttp.agent.destroy();
    bareGrpc.close();
    await Promise.all([stopChild(echo), stopChild(grpcEcho)]);
  }
}

const model = await mlpModel(4, width); // bench/out/mlp-4x1024.onnx: the model's name is mlp-4x1024
const parallel = await startChild(model, 'parallel');
if (process.env['BENCH_ONLY'] === 'grpc') {
  try {
    await grpcAgainstHttp(parallel);
  } finally {
    await stopChild(parallel);
  }
  process.exit(0);
}
const plain = await startChild(model, 'plain');
try {
  const serveBinary: Contender = { name: 'serve cpu,cpu (binary)', server: parallel, binary: true };
  const serveJson: Contender = { name: 'serve cpu,cpu (JSON)', server: parallel, binary: false };
  const plainBinary: Contender = { name: 'same server, plain session (binary)', server: plain, binary: true };

  /** Throughput of `b` against the plain server at concurrency 64, printed with its target. */
  const againstPlain = async (b: Contender, label: string): Promise<void> => {
    const vsPlain = await pairs(plainBinary, b, 64);
    const speedups = vsPlain.map((p) => p.b / p.a);
    const speedup = median(speedups);
    console.log(`concurrency 64, binary, median infer/s: ${plainBinary.name} ${median(vsPlain.map((p) => p.a)).toFixed(0)}, ${b.name} ${median(vsPlain.map((p) => p.b)).toFixed(0)}`);
    console.log(`${label} vs the same server on a plain session, concurrency 64, throughput: ${speedup.toFixed(2)}x, ${spread(speedups)} (target >= 3.00x) ${speedup >= 3 ? 'OK' : 'UNDER'}`);
  };
  await againstPlain(serveBinary, 'serve cpu,cpu');
  // Started only for its pair: an idle server left running would sit beside the concurrency-1 timing.
  const batched = await startChild(model, 'batched');
  try {
    await againstPlain({ name: 'serve cpu,cpu --max-batch 32 --max-queue-delay-us 2000 (binary)', server: batched, binary: true }, 'serve --max-batch 32 --max-queue-delay-us 2000');
  } finally {
    await stopChild(batched);
  }

  const binaryVsJson = await pairs(serveJson, serveBinary, 64);
  const gains = binaryVsJson.map((p) => p.b / p.a);
  const gain = median(gains);
  console.log(`concurrency 64, serve cpu,cpu, median infer/s: JSON ${median(binaryVsJson.map((p) => p.a)).toFixed(0)}, binary ${median(binaryVsJson.map((p) => p.b)).toFixed(0)}`);
  console.log(`binary vs JSON requests, concurrency 64, throughput: ${gain.toFixed(2)}x, ${spread(gains)} (target >= 1.50x) ${gain >= 1.5 ? 'OK' : 'UNDER'}`);

  // Concurrency 1: the server over HTTP against ParallelSession called in this process, timed A B B A.
  const session = await ParallelSession.create(model, { devices: ['cpu', 'cpu'] });
  const tensor = new ort.Tensor('float32', x, [1, width]);
  const direct = (): Promise<unknown> => session.run({ x: tensor });
  const { send, agent } = httpSender(parallel.url);
  const echo = await startChild(model, 'echo');
  const bare = httpSender(echo.url);
  const runMs = seconds * 500;
  await closedLoop(direct, { concurrency: 1, durationMs: 300 });
  await closedLoop(send, { concurrency: 1, durationMs: 300 });
  const added: number[] = [];
  const p50s: Array<{ direct: number; http: number; bare: number }> = [];
  for (let round = 0; round < rounds * 2; round++) {
    const order = round % 2 === 0 ? [direct, send, send, direct] : [send, direct, direct, send];
    const runs = new Map<() => Promise<unknown>, Awaited<ReturnType<typeof closedLoop>>[]>([[direct, []], [send, []], [bare.send, []]]);
    for (const contender of [...order, bare.send]) {
      await settle();
      runs.get(contender)!.push(await closedLoop(contender, { concurrency: 1, durationMs: runMs / 2 }));
    }
    const d = summarize(runs.get(direct)!, 1).p50;
    const h = summarize(runs.get(send)!, 1).p50;
    p50s.push({ direct: d, http: h, bare: summarize(runs.get(bare.send)!, 1).p50 });
    added.push((h - d) * 1000);
  }
  agent.destroy();
  bare.agent.destroy();
  await Promise.all([session.release(), stopChild(echo)]);
  const extra = median(added);
  console.log(`concurrency 1, median p50 µs: ParallelSession cpu,cpu in this process ${(median(p50s.map((p) => p.direct)) * 1000).toFixed(0)}, serve cpu,cpu over HTTP ${(median(p50s.map((p) => p.http)) * 1000).toFixed(0)}; a bare node:http exchange of the same bytes ${(median(p50s.map((p) => p.bare)) * 1000).toFixed(0)}`);
  console.log(`serve p50 minus in-process ParallelSession p50, concurrency 1: ${extra >= 0 ? '+' : ''}${extra.toFixed(0)} µs, ${spread(added, 0)} (target <= +150 µs) ${extra <= 150 ? 'OK' : 'OVER'}`);

  await grpcAgainstHttp(parallel);
} finally {
  await Promise.all([stopChild(parallel), stopChild(plain)]);
}
