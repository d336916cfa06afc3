import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { saveModel } from '../src/io/files.js';
import { repoRoot, tempDir } from './helpers.js';

/**
 * Measured in a child process of its own, so that the rest of the suite's memory does not count: a model with
 * 50 MB of weights (12 MatMul layers of 1024x1024 float32), written by the test, then a ParallelSession on two
 * CPU devices in the child, from the file and from bytes.
 */
const script = (folder: string, fromBytes: boolean): string => `
  import { readFileSync } from 'node:fs';
  import * as ort from 'onnxruntime-node';
  const url = (p) => ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'dist')).href)} + p;
  const { ParallelSession } = await import(url('/src/runtime/session/parallel-session.js'));
  const width = 1024, file = ${JSON.stringify(folder)} + '/fifty.onnx';
  const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
  await settle();
  const before = rss();
  const session = await ParallelSession.create(${fromBytes} ? readFileSync(file) : file, { devices: ['cpu', 'cpu'] });
  const x = new ort.Tensor('float32', new Float32Array(4 * width).fill(1), [4, width]);
  const out = await session.run({ x });
  const value = out.y.data[0];
  const arrayBuffers = process.memoryUsage().arrayBuffers;
  await settle();
  const running = rss();
  await session.release();
  await settle();
  const released = rss();
  // Two more sessions, each created after the last is released: the memory given back is used again.
  for (let cycle = 0; cycle < 2; cycle++) {
    const again = await ParallelSession.create(file, { devices: ['cpu', 'cpu'] });
    await again.run({ x });
    await again.release();
  }
  await settle();
  const releasedAgain = rss();
  console.log(JSON.stringify({ before, running, released, releasedAgain, arrayBuffers, value }));
`;

/** Each layer's scale: all different (onnxruntime stores equal initializers once), products of pairs close to 1. */
const factor = (i: number): number => 1 + (i % 2 === 0 ? 1 : -1) * 1e-3 * (Math.floor(i / 2) + 1);

async function writeModel(file: string, layers: number): Promise<void> {
  const width = 1024;
  const nodes = [];
  const initializers = [];
  for (let i = 0; i < layers; i++) {
    initializers.push(makeTensor(`w${i}`, DT.FLOAT, [width, width], new Float32Array(width * width).fill(factor(i) / width)));
    nodes.push(makeNode('MatMul', [i === 0 ? 'x' : `h${i - 1}`, `w${i}`], [i === layers - 1 ? 'y' : `h${i}`]));
  }
  const graph = makeGraph({ name: 'fifty', inputs: [makeValueInfo('x', DT.FLOAT, ['batch', width])], outputs: [makeValueInfo('y', DT.FLOAT, ['batch', width])], initializers, nodes });
  await saveModel(makeModel(graph, { opset: 13 }), file);
}

async function measure(fromBytes: boolean, env: Record<string, string> = {}, layers = 12): Promise<{ before: number; running: number; released: number; releasedAgain: number; arrayBuffers: number; value: number }> {
  const folder = tempDir();
  try {
    await writeModel(path.join(folder, 'fifty.onnx'), layers);
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script(folder, fromBytes)], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
    assert.equal(child.status, 0, child.stderr);
    return JSON.parse(child.stdout.trim().split('\n').pop()!) as Awaited<ReturnType<typeof measure>>;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const MiB = 1 << 20;

test('after create and a run, the main thread holds no model bytes; release() gives the workers\' memory back', { skip: process.platform !== 'linux' && 'reads /proc/self/status' }, async () => {
  // One malloc arena for every thread: runs go to whichever thread of libuv's pool is free, and glibc gives each
  // thread an arena of its own, whose freed memory another thread does not reuse; with one arena, what is checked
  // is only whether the memory was freed.
  const m = await measure(false, { MALLOC_ARENA_MAX: '1' });
  assert.ok(Math.abs(m.value - 1) < 1e-3, `the model ran (y[0] = ${m.value})`);
  assert.ok(m.arrayBuffers < 10 * MiB, `main thread's arrayBuffers after create and run: ${(m.arrayBuffers / MiB).toFixed(1)} MiB (at most 10 MiB)`);
  const grown = m.running - m.before;
  assert.ok(grown > 50 * MiB, `two sessions hold their weights: +${(grown / MiB).toFixed(0)} MiB`);
  // The C allocator keeps much of what the exited workers freed for reuse rather than unmapping it, so RSS right
  // after release() stays up; what is checked is that it is free: two more sessions of the same model, each
  // created, run and released after the last, add less than one took (kept memory would add 2x).
  const added = m.releasedAgain - m.released;
  assert.ok(added < grown, `two more sessions after release added ${(added / MiB).toFixed(0)} MiB (one took ${(grown / MiB).toFixed(0)} MiB)`);
});

test('release() returns the workers\' memory to the system where glibc is told not to keep it (MALLOC_MMAP_THRESHOLD_)', { skip: process.platform !== 'linux' && 'reads /proc/self/status' }, async () => {
  // glibc raises its mmap threshold when onnxruntime frees its first large buffers, and keeps what is freed
  // after that; a fixed threshold (the README's advice for services) has every large buffer unmapped when freed.
  // 100 MB of weights here, one copy for both sessions. What stays is onnxruntime's process-wide environment, made
  // with the first session (30 MiB on Node 20, about 50 MiB on Node 24 and 26, whatever the model): the margin is
  // half of what the sessions took (without the setting, more than half stays).
  const m = await measure(false, { MALLOC_MMAP_THRESHOLD_: '131072' }, 24);
  const grown = m.running - m.before;
  assert.ok(grown > 100 * MiB, `two sessions hold their weights: +${(grown / MiB).toFixed(0)} MiB`);
  const kept = m.released - m.before;
  assert.ok(kept < grown * 0.5, `after release ${(kept / MiB).toFixed(0)} MiB of the ${(grown / MiB).toFixed(0)} MiB the sessions took are still held (at most half)`);
});

test('from bytes too, the main thread keeps no copy of them after create', { skip: process.platform !== 'linux' && 'reads /proc/self/status' }, async () => {
  const m = await measure(true);
  assert.ok(Math.abs(m.value - 1) < 1e-3, `the model ran (y[0] = ${m.value})`);
  // The caller's own buffer (readFileSync, 50 MB) is still referenced by the script; nothing more.
  assert.ok(m.arrayBuffers < 50 * MiB + 10 * MiB, `main thread's arrayBuffers: ${(m.arrayBuffers / MiB).toFixed(1)} MiB (the caller's 50 MB buffer and at most 10 MiB)`);
});

/**
 * Resident memory a session adds, in a child process of its own: a plain onnxruntime-node session (one thread),
 * or a ParallelSession on `devices`; with the output's first value, and the weights files of this child left in
 * the temporary folder.
 */
const growthScript = (file: string, devices: string[] | undefined): string => `
  import { readFileSync, readdirSync } from 'node:fs';
  import os from 'node:os';
  import * as ort from 'onnxruntime-node';
  const url = (p) => ${JSON.stringify(pathToFileURL(path.join(repoRoot, 'dist')).href)} + p;
  const { ParallelSession } = await import(url('/src/runtime/session/parallel-session.js'));
  const devices = ${JSON.stringify(devices ?? null)};
  const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
  const x = new ort.Tensor('float32', new Float32Array(4 * 1024).fill(1), [4, 1024]);
  await settle();
  const before = rss();
  const session = devices === null
    ? await ort.InferenceSession.create(${JSON.stringify(file)}, { intraOpNumThreads: 1, interOpNumThreads: 1 })
    : await ParallelSession.create(${JSON.stringify(file)}, { devices });
  const out = await session.run({ x });
  const weightFiles = readdirSync(os.tmpdir()).filter((name) => name.startsWith('onnx-parallelize-weights-' + process.pid + '-')).length;
  await settle();
  const grown = rss() - before;
  await session.release();
  console.log(JSON.stringify({ grown, value: out.y.data[0], weightFiles }));
`;

test('two and three cpu devices hold one copy of the weights: at most 1.25x what a plain session adds', { skip: process.platform !== 'linux' && 'reads /proc/self/status; weights are shared where files can be mapped (Linux)' }, async () => {
  const folder = tempDir();
  try {
    const file = path.join(folder, 'fifty.onnx');
    await writeModel(file, 24); // 100 MB of weights
    const grown = (devices?: string[]): { grown: number; value: number; weightFiles: number } => {
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', growthScript(file, devices)], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
      assert.equal(child.status, 0, child.stderr);
      return JSON.parse(child.stdout.trim().split('\n').pop()!) as { grown: number; value: number; weightFiles: number };
    };
    const plain = grown();
    assert.ok(plain.grown > 100 * MiB, `a plain session holds the weights: +${(plain.grown / MiB).toFixed(0)} MiB`);
    for (const devices of [['cpu', 'cpu'], ['cpu', 'cpu', 'cpu']]) {
      const m = grown(devices);
      assert.equal(m.value, plain.value, `${devices.join(',')}: the same output as the plain session`);
      assert.equal(m.weightFiles, 0, `${devices.join(',')}: the weights file is deleted once mapped`);
      assert.ok(m.grown <= plain.grown * 1.25, `${devices.join(',')}: +${(m.grown / MiB).toFixed(0)} MiB, against +${(plain.grown / MiB).toFixed(0)} MiB for a plain session (at most 1.25x)`);
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
