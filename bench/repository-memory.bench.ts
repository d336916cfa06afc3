/**
 * Memory of a model repository served by one server against one server per model: three float32 MLPs (16, 24
 * and 32 MatMul + Relu layers of 1024x1024: 64, 96 and 128 MiB of weights), each on one CPU device.
 *
 * Each contender is a process of its own (this file, re-run with BENCH_REPO_CHILD set) that starts the library's
 * server on port 0, answers 4 requests of 8 rows on each of its models over HTTP, waits 1.5 s and reports VmRSS
 * (/proc/self/status: every thread, the device workers' sessions included). The contenders:
 *  - one server per model (`serve MODEL.onnx --devices cpu`), three processes;
 *  - one server on a repository of the three (`serve REPO`, each model KIND_CPU count 1);
 *  - an idle process that loads the server's modules and onnxruntime and serves nothing (the runtime's own memory).
 * Target: the repository server's RSS <= 1.1x the sum of the three one-model servers. Medians of BENCH_REPEATS (3)
 * processes each, taken in rounds. The same ratio above the idle process's RSS (the models' own memory) is shown
 * beside it, since three one-model servers carry three runtimes and one repository server carries one.
 *
 *   node dist/bench/repository-memory.bench.js
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, mlpModel } from './harness.js';

const MiB = 1 << 20;
const width = 1024;
const layers = [16, 24, 32];
const repeats = Number(process.env['BENCH_REPEATS'] ?? 3);
const settleMs = 1500;

type Contender = { kind: 'file'; file: string } | { kind: 'repository'; root: string; names: string[] } | { kind: 'idle' };

function vmRss(): number {
  const text = readFileSync('/proc/self/status', 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(text)![1]) * 1024;
}

async function child(contender: Contender): Promise<number> {
  const { startServer } = await import('../src/serve/index.js');
  await import('onnxruntime-node');
  if (contender.kind === 'idle') {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return vmRss();
  }
  const server = await startServer({
    ...(contender.kind === 'file' ? { model: contender.file, session: { devices: ['cpu'] } } : { models: [contender.root] }),
    port: 0,
    metricsPort: null,
  });
  const names = contender.kind === 'file' ? [server.name] : contender.names;
  const body = JSON.stringify({ inputs: [{ name: 'x', shape: [8, width], datatype: 'FP32', data: Array(8 * width).fill(0.5) }] });
  for (const name of names) {
    for (let k = 0; k < 4; k++) {
      const response = await fetch(`${server.url}/v2/models/${name}/infer`, { method: 'POST', body });
      if (response.status !== 200) throw new Error(`${name}: ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    }
  }
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const rss = vmRss();
  await server.close();
  return rss;
}

const childContender = process.env['BENCH_REPO_CHILD'];
if (childContender !== undefined) {
  process.stdout.write(`${await child(JSON.parse(childContender) as Contender)}\n`);
  process.exit(0);
}

function measure(contender: Contender): number {
  const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_REPO_CHILD: JSON.stringify(contender) }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`a contender failed: ${(result.stderr || result.error?.message || '').trim().split('\n').pop()}`);
  return Number(result.stdout.trim().split('\n').pop());
}

const files = await Promise.all(layers.map((n) => mlpModel(n, width)));
const root = path.join(os.tmpdir(), `onnx-parallelize-bench-repo-${process.pid}`);
const names = layers.map((n) => `mlp${n}`);
try {
  files.forEach((file, i) => {
    mkdirSync(path.join(root, names[i]!, '1'), { recursive: true });
    copyFileSync(file, path.join(root, names[i]!, '1', 'model.onnx'));
    writeFileSync(path.join(root, names[i]!, 'config.pbtxt'), `name: "${names[i]}"\nbackend: "onnxruntime"\nmax_batch_size: 64\ninstance_group [{ kind: KIND_CPU, count: 1 }]\ndynamic_batching { }\n`);
  });
  const contenders: Array<[string, Contender]> = [
    ...files.map((file, i): [string, Contender] => [`one server: ${names[i]}`, { kind: 'file', file }]),
    ['one server: repository of the three', { kind: 'repository', root, names }],
    ['idle process (modules and onnxruntime)', { kind: 'idle' }],
  ];
  const runs = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  for (let round = 0; round < repeats; round++) for (const [name, contender] of contenders) runs.get(name)!.push(measure(contender));
  const rss = new Map([...runs].map(([name, values]) => [name, median(values)]));
  console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  console.log(`models: MLPs of ${layers.join(', ')} layers of ${width}x${width} float32, one cpu device each; 4 requests of 8 rows per model, then ${settleMs} ms; medians of ${repeats} processes`);
  for (const [name] of contenders) console.log(`${name.padEnd(42)} ${(rss.get(name)! / MiB).toFixed(0).padStart(6)} MiB  (${runs.get(name)!.map((v) => (v / MiB).toFixed(0)).join(', ')})`);
  const sum = files.reduce((total, _, i) => total + rss.get(`one server: ${names[i]}`)!, 0);
  const repository = rss.get('one server: repository of the three')!;
  const idle = rss.get('idle process (modules and onnxruntime)')!;
  const ratio = repository / sum;
  console.log(`sum of the three one-model servers: ${(sum / MiB).toFixed(0)} MiB`);
  console.log(`repository server / sum: ${ratio.toFixed(2)}x (target <= 1.10x) ${ratio <= 1.1 ? 'OK' : 'OVER'}`);
  console.log(`above the idle process: repository ${((repository - idle) / MiB).toFixed(0)} MiB / sum ${((sum - 3 * idle) / MiB).toFixed(0)} MiB = ${((repository - idle) / (sum - 3 * idle)).toFixed(2)}x`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
