import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { dump } from 'npyjs';
import { tensorFromNpy } from '../src/io/npy.js';
import { encodeModel } from '../src/io/codec.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { fixture, runCli, tempDir } from './helpers.js';

function writeNpy(file: string, data: Float32Array, dims: number[]): void {
  writeFileSync(file, new Uint8Array(dump(data, dims)));
}

test('run: .npy inputs in, .npy outputs out, equal to a plain session; devices from the tags of a rewritten model', async () => {
  const folder = tempDir();
  const x = Float32Array.from({ length: 9 * 16 }, (_, i) => Math.cos(i));
  writeNpy(path.join(folder, 'x.npy'), x, [9, 16]);
  const plain = await ort.InferenceSession.create(fixture('mlp'));
  const expected = (await plain.run({ x: new ort.Tensor('float32', x, [9, 16]) }))['y']!;
  const result = runCli(['run', fixture('mlp'), '--devices', 'cpu,cpu', '--input', `x=${path.join(folder, 'x.npy')}`, '-o', path.join(folder, 'out')]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /ran on cpu, cpu in [\d.]+ ms/);
  assert.match(result.stdout, /y: float32 \[9, 8\]/);
  const y = tensorFromNpy(readFileSync(path.join(folder, 'out', 'y.npy')), 'y.npy');
  assert.deepEqual(y.dims, [9, 8]);
  assert.deepEqual(Array.from(y.data as Float32Array), Array.from(expected.data as Float32Array));

  const model = path.join(folder, 'mlp.onnx');
  copyFileSync(fixture('mlp'), model);
  assert.equal(runCli([model, '--devices', 'cpu,cpu,cpu', '--quiet']).status, 0);
  const tagged = runCli(['run', path.join(folder, 'mlp.parallel.onnx'), '--input', `x=${path.join(folder, 'x.npy')}`, '-o', path.join(folder, 'out2'), '--json']);
  assert.equal(tagged.status, 0, tagged.stderr);
  assert.deepEqual(JSON.parse(tagged.stdout).devices, ['cpu', 'cpu', 'cpu']);
  assert.deepEqual(readFileSync(path.join(folder, 'out2', 'y.npy')), readFileSync(path.join(folder, 'out', 'y.npy')));
});

test('run: missing or unknown inputs and bad files exit 2 with one line', () => {
  const folder = tempDir();
  writeNpy(path.join(folder, 'x.npy'), new Float32Array(16), [1, 16]);
  writeFileSync(path.join(folder, 'bad.npy'), 'not numpy');
  const cases: Array<[string[], RegExp]> = [
    [['run', fixture('mlp'), '--devices', 'cpu', '-o', folder], /--input x=FILE\.npy is missing/],
    [['run', fixture('mlp'), '--devices', 'cpu', '--input', `z=${path.join(folder, 'x.npy')}`, '-o', folder], /--input z: the model has no input named 'z'/],
    [['run', fixture('mlp'), '--devices', 'cpu', '--input', `x=${path.join(folder, 'bad.npy')}`, '-o', folder], /bad\.npy: not a NumPy \.npy file/],
    [['run', fixture('mlp'), '--devices', 'cpu', '--input', `x=${path.join(folder, 'nope.npy')}`, '-o', folder], /nope\.npy: no such file/],
  ];
  for (const [args, pattern] of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
});

test('bench: a table of throughput and latency, or --json', () => {
  const table = runCli(['bench', fixture('mlp'), '--devices', 'cpu,cpu', '--batch', '32', '--runs', '3']);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /single session\s+cpu\s+[\d.]+\s+[\d.]+\s+[\d.]+/);
  assert.match(table.stdout, /ParallelSession\s+cpu,cpu/);
  assert.match(table.stdout, /speed-up [\d.]+x on 2 devices, scaling efficiency \d+%/);
  // Where the time went, per device: run(), round trip, their difference, and the worker's part of it.
  assert.match(table.stdout, /device +run\(\) ms +round trip ms +difference ms +of which inputs ms +outputs ms\n +0 \(cpu\)( +\d+\.\d\d){5}\n +1 \(cpu\)( +\d+\.\d\d){5}\n/, table.stdout);
  const json = runCli(['bench', fixture('cnn'), '--devices', 'cpu,cpu', '--batch', '8', '--runs', '2', '--json']);
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.equal(report.batch, 8);
  assert.ok(report.parallel.throughput > 0 && report.single.p95 >= report.single.p50);
  assert.equal(report.efficiency, report.speedup / 2);
  // Batch 8 runs whole (at least 8 rows a share): a device that never ran has no times.
  const ran = report.timing.filter((t: { runMs?: number }) => t.runMs !== undefined);
  assert.ok(ran.length >= 1, JSON.stringify(report.timing));
  for (const t of ran) assert.ok(t.roundTripMs >= t.runMs && t.inputMs > 0 && t.outputMs > 0, JSON.stringify(t));
  assert.equal(runCli(['bench', fixture('mlp'), '--devices', 'cpu', '--batch', '0']).status, 2);
});

test('bench --concurrency/--duration: a closed-loop load test per level, plain session and ParallelSession side by side', () => {
  const text = runCli(['bench', fixture('mlp'), '--devices', 'cpu,cpu', '--concurrency', '1,4', '--duration', '0.3']);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /Batch size: 1\n/);
  for (const level of [1, 4]) {
    const section = text.stdout.split(`\nConcurrency: ${level}\n`)[1]?.split('\n\n')[0] ?? '';
    assert.match(section, /plain session: +throughput: [\d.]+ infer\/sec, [\d.]+ rows\/sec, latency p50 \d+ usec, p95 \d+ usec, p99 \d+ usec/, text.stdout);
    assert.match(section, /ParallelSession: +throughput: [\d.]+ infer\/sec/);
    assert.match(section, /ParallelSession \/ plain session: throughput [\d.]+x, p99 latency [\d.]+x/);
    assert.match(section, /device 0 \(cpu\): \d+ requests, \d+ rows in \d+ batches/);
    assert.match(section, /most run batch sizes: \d+ x \d+/);
    assert.match(section, /device 1 \(cpu\): \d+ requests/);
  }
  assert.match(text.stdout, /Inferences\/Second vs\. Client p99 Latency\nConcurrency +plain infer\/sec/);

  const json = runCli(['bench', fixture('mlp'), '--devices', 'cpu,cpu', '--concurrency', '3', '--duration', '0.3', '--batch', '2', '--json']);
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.equal(report.mode, 'load');
  assert.equal(report.batch, 2);
  assert.deepEqual(report.devices, ['cpu', 'cpu']);
  assert.equal(report.levels.length, 1);
  const [level] = report.levels;
  assert.equal(level.concurrency, 3);
  for (const side of [level.plain, level.parallel]) {
    assert.ok(side.requests >= 3, `${side.requests} requests`);
    assert.ok(side.p50 > 0 && side.p50 <= side.p95 && side.p95 <= side.p99, JSON.stringify(side));
    assert.ok(Math.abs(side.rowsPerSecond - 2 * side.throughput) < 1e-9 * side.rowsPerSecond);
    // Half the duration twice, each half ending when its last request finishes.
    assert.ok(side.elapsedMs >= 300 && side.throughput === (side.requests * 1000) / side.elapsedMs, JSON.stringify(side));
  }
  assert.equal(level.speedup, level.parallel.throughput / level.plain.throughput);
  // The stats count ParallelSession's timed requests only: every row of them, on the two devices.
  const { stats } = level;
  assert.deepEqual(stats.devices.map((d: { device: string }) => d.device), ['cpu', 'cpu']);
  assert.equal(stats.total.rows, level.parallel.requests * 2);
  assert.equal(stats.devices.reduce((n: number, d: { rows: number }) => n + d.rows, 0), stats.total.rows);
  assert.ok(stats.total.batches >= 1 && stats.total.batches <= stats.total.rows, JSON.stringify(stats));
  assert.ok(stats.total.busyMs > 0 && stats.queued === 0 && stats.rejected === 0, JSON.stringify(stats));
  // The workers' time on inputs before and outputs after each run: measured, and small beside the runs themselves.
  assert.ok(stats.total.inputMs > 0 && stats.total.outputMs > 0, JSON.stringify(stats.total));
  assert.ok(stats.total.inputMs < stats.total.busyMs && stats.total.outputMs < stats.total.busyMs, JSON.stringify(stats.total));
  // Runs by size, counted over the timed requests only: they add up to the runs and the rows.
  const bySize = Object.entries(stats.total.batchSizes as Record<string, number>);
  assert.equal(bySize.reduce((n, [, runs]) => n + runs, 0), stats.total.batches, JSON.stringify(stats.total));
  assert.equal(bySize.reduce((n, [rows, runs]) => n + Number(rows) * runs, 0), stats.total.rows, JSON.stringify(stats.total));
  // Their time inside onnxruntime, by the same sizes, adds up to busyMs.
  const busyBySize = stats.total.batchBusyMs as Record<string, number>;
  assert.deepEqual(Object.keys(busyBySize).sort(), bySize.map(([rows]) => rows).sort(), JSON.stringify(stats.total));
  assert.ok(Object.values(busyBySize).every((ms) => ms > 0), JSON.stringify(busyBySize));
  assert.ok(Math.abs(Object.values(busyBySize).reduce((a, b) => a + b, 0) - stats.total.busyMs) < 1e-6 * stats.total.busyMs, JSON.stringify(stats.total));
});

test('bench: bad --concurrency, --duration or --runs exit 2 with one line naming the option', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--concurrency', '0'], /--concurrency 0: expected whole numbers from 1 to 100000/],
    [['--concurrency', '1,4,x'], /--concurrency 1,4,x: expected whole numbers from 1 to 100000/],
    [['--concurrency', '4294967296'], /--concurrency 4294967296: expected whole numbers from 1 to 100000/],
    [['--concurrency', '2.5'], /--concurrency 2\.5:/],
    [['--duration', '-1'], /--duration must be a number of seconds > 0 \(got -1\)/],
    [['--duration', '0'], /--duration must be a number of seconds > 0/],
    [['--concurrency', '4', '--runs', '3'], /--runs counts the runs of one batch at a time/],
    [[], /--batch is required/],
  ];
  for (const [args, pattern] of cases) {
    const result = runCli(['bench', fixture('mlp'), '--devices', 'cpu', ...args]);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  }
});

test('inputs too large to make up (fixed dims of 10^10 values): bench exits 2 naming the input and the fix, --verify says why it could not verify', () => {
  const folder = tempDir();
  const file = path.join(folder, 'huge.onnx');
  const huge = makeGraph({
    name: 'huge',
    inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 100000, 100000])],
    outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 100000, 100000])],
    nodes: [makeNode('Relu', ['x'], ['y'])],
  });
  writeFileSync(file, encodeModel(makeModel(huge, { opset: 13 })));
  const started = Date.now();
  const bench = runCli(['bench', file, '--devices', 'cpu,cpu', '--batch', '2']);
  assert.equal(bench.status, 2, bench.stderr);
  assert.equal(bench.stderr, "onnx-parallelize: input 'x': dims [2, 100000, 100000] hold 20000000000 values (74.5 GiB), too many to make up as random samples (at most 1 GiB); use a smaller --batch\n");
  const load = runCli(['bench', file, '--devices', 'cpu,cpu', '--concurrency', '1', '--duration', '0.1']);
  assert.equal(load.status, 2, load.stderr);
  assert.match(load.stderr, /^onnx-parallelize: input 'x': dims \[1, 100000, 100000\] hold 10000000000 values \(37\.3 GiB\), too many to make up as random samples \(at most 1 GiB\)\n$/);
  const output = path.join(folder, 'out.onnx');
  const verify = runCli([file, '--gpus', '2', '--verify', '-o', output]);
  assert.equal(verify.status, 1, verify.stderr);
  assert.ok(!existsSync(output), 'nothing written when not verified');
  assert.match(verify.stdout + verify.stderr, /not verified: .*input 'x': dims \[2, 100000, 100000\] hold .* too many to make up as random samples \(at most 1 GiB\); give it with --verify-input\)/);
  assert.ok(Date.now() - started < 30_000, 'refused at once, without trying to allocate');
});
