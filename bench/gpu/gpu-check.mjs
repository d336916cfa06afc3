// Checks onnx-parallelize on one GPU, inside the unpacked GPU kit (see README.md).
// Correctness: every model in KIT/models/*.onnx (but the benchmark MLPs, mlp-*) is run on the same seeded inputs
// (batch 5, which ParallelSession splits 3/2) by ParallelSession on cuda:0,cuda:0, by a plain CUDA session and by a
// plain CPU session; one line per model gives the largest difference of ParallelSession's outputs from each,
// relative to the largest magnitude of the reference. GPU memory: with BIG_MODEL set, what nvidia-smi shows added
// by a plain CUDA session of it, by ParallelSession on cuda:0 and on cuda:0,cuda:0 (each after one run).
// The last line is all of it as JSON. Exits 1 if a model fails or ParallelSession differs from the plain CUDA
// session by more than 1e-3 relative.
// Usage: [BIG_MODEL=KIT/models/mlp-8x4096.onnx] node gpu-check.mjs KIT_DIR
//        DRY=1 runs the same on CPU devices, to check this script where there is no GPU (no memory check).
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const kit = path.resolve(process.argv[2] ?? '.');
const ort = createRequire(path.join(kit, 'app', 'package.json'))('onnxruntime-node');
ort.env.logLevel = 'error';
const { ParallelSession } = await import(path.join(kit, 'app/dist/src/index.js'));

const DRY = process.env.DRY === '1';
const ONE = DRY ? ['cpu'] : [{ name: 'cuda', deviceId: 0 }];
const TWO = DRY ? ['cpu', 'cpu'] : ['cuda:0', 'cuda:0'];
const BATCH = 5;
const TOLERANCE = 1e-3;

let seed = 12345;
const random = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};

/** Seeded inputs: the first symbolic dimension met is the batch (BATCH), other symbolic ones 8; scalars are fixed. */
function feedsFor(inputs, rows = BATCH) {
  const batch = inputs.flatMap((m) => m.shape).find((d) => typeof d === 'string');
  const feeds = {};
  for (const m of inputs) {
    const dims = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : d === batch ? rows : 8));
    const length = dims.reduce((a, b) => a * b, 1);
    const scalar = dims.length === 0;
    const fill = {
      float32: () => Float32Array.from({ length }, () => (scalar ? 0.5 : random() * 2 - 1)),
      float16: () => Uint16Array.from({ length }, () => 0x3800 + Math.floor(random() * 0x400)), // 0.5 to 1
      int64: () => BigInt64Array.from({ length }, () => BigInt(1 + Math.floor(random() * 2))),
      int32: () => Int32Array.from({ length }, () => 1 + Math.floor(random() * 2)),
      bool: () => Uint8Array.from({ length }, () => (scalar || random() < 0.5 ? 1 : 0)),
    }[m.type];
    if (!fill) throw new Error(`input ${m.name}: type ${m.type} is not made here`);
    feeds[m.name] = new ort.Tensor(m.type, fill(), dims);
  }
  return feeds;
}

function fromHalf(h) {
  const exponent = (h >> 10) & 31;
  const fraction = h & 1023;
  const value = exponent === 0 ? fraction * 2 ** -24 : exponent === 31 ? (fraction ? NaN : Infinity) : (1 + fraction / 1024) * 2 ** (exponent - 15);
  return h & 0x8000 ? -value : value;
}
const numbers = (t) => (t.type === 'float16' && t.data instanceof Uint16Array ? Array.from(t.data, fromHalf) : Array.from(t.data, Number));

/** The largest absolute difference of a from the reference b, and that relative to b's largest magnitude. */
function difference(a, b) {
  if (a.dims.join() !== b.dims.join()) return { shape: `${a.dims} vs ${b.dims}`, rel: Infinity };
  const x = numbers(a);
  const y = numbers(b);
  let maxAbs = 0;
  let maxRef = 0;
  for (let i = 0; i < x.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i]));
    maxRef = Math.max(maxRef, Math.abs(y[i]));
  }
  return { maxAbs, rel: maxAbs / (maxRef || 1) };
}

const results = [];
let failed = false;
const models = path.join(kit, 'models');
for (const name of fs.readdirSync(models).filter((f) => f.endsWith('.onnx') && !f.startsWith('mlp-')).sort()) {
  const file = path.join(models, name);
  const r = { model: path.basename(name, '.onnx') };
  try {
    const cpu = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
    const feeds = feedsFor(cpu.inputMetadata);
    const onCpu = await cpu.run(feeds);
    const plain = await ort.InferenceSession.create(file, { executionProviders: ONE });
    const onPlain = await plain.run(feeds);
    const start = performance.now();
    const parallel = await ParallelSession.create(file, { devices: TWO });
    r.createMs = Math.round(performance.now() - start);
    const got = await parallel.run(feeds);
    r.outputs = {};
    for (const o of Object.keys(onCpu)) {
      r.outputs[o] = { vsPlainGpu: difference(got[o], onPlain[o]), vsCpu: difference(got[o], onCpu[o]), plainGpuVsCpu: difference(onPlain[o], onCpu[o]) };
    }
    r.worstVsPlainGpu = Math.max(...Object.values(r.outputs).map((v) => v.vsPlainGpu.rel));
    r.worstVsCpu = Math.max(...Object.values(r.outputs).map((v) => v.vsCpu.rel));
    await parallel.release();
    await plain.release?.();
    await cpu.release?.();
  } catch (e) {
    r.error = String(e?.message ?? e).split('\n')[0].slice(0, 300);
    // From Node 24 on, onnxruntime-node reads a float16 input of a plain session as empty ("not enough space").
    if (/not enough space/.test(r.error) && Number(process.versions.node.split('.')[0]) >= 24) {
      r.error = `skipped: a plain session takes no float16 input on Node ${process.versions.node}`;
    }
  }
  const skipped = r.error?.startsWith('skipped');
  if ((r.error && !skipped) || r.worstVsPlainGpu > TOLERANCE) failed = true;
  console.log(
    `${r.model}: ${
      r.error
        ? `${skipped ? '' : 'ERROR '}${r.error}`
        : `vs plain ${DRY ? 'CPU' : 'GPU'} session ${r.worstVsPlainGpu.toExponential(2)}, vs CPU ${r.worstVsCpu.toExponential(2)} (relative), create ${r.createMs} ms`
    }`,
  );
  results.push(r);
}

// Host buffers from allocate()/allocateOutput() (page-locked on GPUs: 'cpu-pinned') and outputs kept in device
// memory (preferredOutputLocation 'gpu-buffer'), on the MLP fixture, against a plain session's outputs.
const places = {};
const mlp = path.join(models, 'mlp.onnx');
if (fs.existsSync(mlp)) {
  try {
    const plain = await ort.InferenceSession.create(mlp, { executionProviders: ONE });
    const feeds = feedsFor(plain.inputMetadata);
    const expected = await plain.run(feeds);
    const pinned = await ParallelSession.create(mlp, { devices: TWO, minRowsPerDevice: 1 });
    const inputs = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      inputs[name] = pinned.allocate(name, tensor.dims.slice());
      inputs[name].data.set(tensor.data);
    }
    const outputs = Object.fromEntries(Object.entries(expected).map(([name, t]) => [name, pinned.allocateOutput(name, t.dims.slice())]));
    const got = await pinned.run(inputs, { outputs });
    places.allocate = { inputLocation: Object.values(inputs)[0].location, outputLocation: Object.values(outputs)[0].location, worst: Math.max(...Object.keys(expected).map((o) => difference(got[o], expected[o]).rel)) };
    await pinned.release();
    const kept = await ParallelSession.create(mlp, { devices: TWO, sessionOptions: { preferredOutputLocation: 'gpu-buffer' } });
    const left = await kept.run(feeds);
    const downloaded = {};
    for (const [name, t] of Object.entries(left)) downloaded[name] = { type: t.type, dims: t.dims, location: t.location, data: await t.getData(true) };
    places.gpuBuffer = { location: Object.values(downloaded)[0].location, worst: Math.max(...Object.keys(expected).map((o) => difference(downloaded[o], expected[o]).rel)) };
    await kept.release();
    if (!DRY) {
      // enable_cuda_graph: every run must give the plain session's outputs for its own inputs (a replay on stale
      // buffers would not), and batch-1 latency from page-locked buffers against a plain session, interleaved.
      const graph = await ParallelSession.create(mlp, { devices: ['cuda:0'], batching: false, deviceOptions: { 'cuda:0': { enable_cuda_graph: 1 } } });
      let worst = 0;
      for (let k = 0; k < 5; k++) {
        const fresh = feedsFor(plain.inputMetadata);
        const want = await plain.run(fresh);
        const have = await graph.run(fresh);
        worst = Math.max(worst, ...Object.keys(want).map((o) => difference(have[o], want[o]).rel));
      }
      const one = feedsFor(plain.inputMetadata, 1);
      const pinnedOne = {};
      for (const [name, tensor] of Object.entries(one)) {
        pinnedOne[name] = graph.allocate(name, tensor.dims.slice());
        pinnedOne[name].data.set(tensor.data);
      }
      const times = { graph: [], plain: [] };
      for (let k = 0; k < 200; k++) {
        let t = performance.now();
        await graph.run(pinnedOne);
        times.graph.push(performance.now() - t);
        t = performance.now();
        await plain.run(one);
        times.plain.push(performance.now() - t);
      }
      const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
      places.cudaGraph = { worst, batch1GraphMs: median(times.graph), batch1PlainMs: median(times.plain), ratio: median(times.plain) / median(times.graph) };
      if (worst > TOLERANCE) failed = true;
      await graph.release();
    }
    await plain.release?.();
    if (places.allocate.worst > TOLERANCE || places.gpuBuffer.worst > TOLERANCE || (!DRY && (places.allocate.inputLocation !== 'cpu-pinned' || places.gpuBuffer.location !== 'gpu-buffer'))) failed = true;
  } catch (e) {
    places.error = String(e?.message ?? e).split('\n')[0].slice(0, 300);
    failed = true;
  }
  console.log(`buffers and output places, mlp: ${JSON.stringify(places)}`);
}

const memory = {};
const big = process.env.BIG_MODEL;
if (big && !DRY) {
  const usedMiB = () => Number(execSync('nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits').toString().trim().split('\n')[0]);
  const cpu = await ort.InferenceSession.create(big, { executionProviders: ['cpu'] });
  const feeds = feedsFor(cpu.inputMetadata);
  await cpu.release?.();
  for (const [label, open] of [
    ['plain session', () => ort.InferenceSession.create(big, { executionProviders: ONE })],
    ['ParallelSession cuda:0', () => ParallelSession.create(big, { devices: ['cuda:0'] })],
    ['ParallelSession cuda:0,cuda:0', () => ParallelSession.create(big, { devices: TWO })],
  ]) {
    try {
      const before = usedMiB();
      const session = await open();
      await session.run(feeds);
      memory[label] = `${usedMiB() - before} MiB`;
      await session.release();
      await new Promise((resolve) => setTimeout(resolve, 500)); // let the driver give the memory back
    } catch (e) {
      memory[label] = String(e?.message ?? e).slice(0, 200);
    }
  }
  console.log(`GPU memory added, ${path.basename(big)}: ${JSON.stringify(memory)}`);
}
console.log(JSON.stringify({ results, places, memory }));
process.exitCode = failed ? 1 : 0;
