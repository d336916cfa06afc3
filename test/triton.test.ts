import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, parseDocument } from 'yaml';
import * as ort from 'onnxruntime-node';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { encodeModel } from '../src/io/codec.js';
import { loadModel } from '../src/io/files.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { describeTritonModel, formatModelConfig } from '../src/index.js';
import { cliPath, fixture, fixtureNames, fixturesDir, runCli, tempDir } from './helpers.js';
import { envWith, fakeNvidiaSmi, TWO_H200 } from './devices-helpers.js';
import { checkEntry, parseConfig, type DecodedConfig } from './triton/check-entry.js';

const folders: string[] = [];
after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});
function workFolder(): string {
  const folder = tempDir('onnx-parallelize-triton-');
  folders.push(folder);
  return folder;
}

/** Runs `triton MODEL ...` into a fresh repository; returns the repository and the result. */
function triton(model: string, args: string[], repo = path.join(workFolder(), 'repo')): { repo: string; status: number | null; stdout: string; stderr: string } {
  return { repo, ...runCli(['triton', model, '--repo', repo, ...args]) };
}

async function tritonEntry(name: string, args: string[]): Promise<{ config: DecodedConfig; stdout: string; repo: string }> {
  const run = triton(fixture(name), args);
  assert.equal(run.status, 0, run.stderr);
  return { config: await checkEntry(path.join(run.repo, name), fixture(name)), stdout: run.stdout, repo: run.repo };
}

function saveBuilt(name: string, inputs: Parameters<typeof makeValueInfo>[], outputs: Parameters<typeof makeValueInfo>[], nodes: ReturnType<typeof makeNode>[]): string {
  const file = path.join(workFolder(), `${name}.onnx`);
  const graph = makeGraph({ name, inputs: inputs.map((i) => makeValueInfo(...i)), outputs: outputs.map((o) => makeValueInfo(...o)), nodes });
  writeFileSync(file, encodeModel(makeModel(graph, { opset: 17 })));
  return file;
}

const dims = (tensors: DecodedConfig['input']): Record<string, number[]> => Object.fromEntries(tensors.map((t) => [t.name, t.dims]));

/**
 * Each input's shape as onnxruntime reports it for the model (symbolic dims by name), against what the config
 * gives the model: the reshape where there is one, else dims (-1 for a symbolic dim).
 */
async function assertShapesFromOnnxruntime(name: string, config: DecodedConfig, expected: Record<string, Array<number | string>>): Promise<void> {
  const session = await ort.InferenceSession.create(fixture(name));
  try {
    for (const meta of session.inputMetadata) {
      assert.ok(meta.isTensor);
      assert.deepEqual(meta.shape, expected[meta.name], `${name}: onnxruntime's shape of ${meta.name}`);
      const tensor = config.input.find((t) => t.name === meta.name)!;
      // A scalar of a model that does not batch is dims [1], which Triton's backend feeds as a scalar.
      const seen = meta.shape.length === 0 && config.max_batch_size === 0 ? (assert.deepEqual(tensor.dims, [1]), []) : (tensor.reshape?.shape ?? tensor.dims);
      assert.deepEqual(seen, meta.shape.map((d) => (typeof d === 'number' ? d : -1)), `${name}: ${meta.name} as the model sees it`);
    }
  } finally {
    await session.release();
  }
}

test('protoc is there to check configs against Triton\'s schema (scripts/ensure-protoc.sh installs it)', () => {
  const result = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
  assert.equal(result.error, undefined, 'protoc is missing: run scripts/ensure-protoc.sh (it installs Debian\'s protobuf-compiler)');
  assert.match(result.stdout, /libprotoc/);
});

test('the schema check rejects what Triton would: unknown fields, bad enum names, text in a number', () => {
  const good = 'name: "m"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 4\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 3 ] } ]\n';
  assert.equal(parseConfig(good).input[0]!.dims[0], 3);
  assert.throws(() => parseConfig(`${good}max_batch: 4\n`), /max_batch/);
  assert.throws(() => parseConfig(good.replace('TYPE_FP32', 'TYPE_FLOAT32')), /TYPE_FLOAT32/);
  assert.throws(() => parseConfig(good.replace('[ 3 ]', '[ "3" ]')), /protoc/);
});

test('every fixture gets an entry whose config parses against Triton\'s schema and matches the model', async () => {
  for (const name of fixtureNames()) {
    const run = triton(fixture(name), ['--gpus', '2']);
    assert.equal(run.status, 0, `${name}: ${run.stderr}`);
    const config = await checkEntry(path.join(run.repo, name), fixture(name));
    assert.deepEqual(config.instance_group, [
      { kind: 'KIND_GPU', count: 1, gpus: [0] },
      { kind: 'KIND_GPU', count: 1, gpus: [1] },
    ], name);
  }
});

test('a symbolic batch on axis 0: max_batch_size 64 by default, dims without the batch, dynamic batching on', async () => {
  const { config, stdout } = await tritonEntry('two_in_two_out', ['--gpus', '1']);
  assert.equal(config.max_batch_size, 64);
  assert.deepEqual(dims(config.input), { features: [8], mask: [4] });
  assert.deepEqual(dims(config.output), { score: [4], gated: [4] });
  assert.deepEqual(config.input.map((t) => t.data_type), ['TYPE_FP32', 'TYPE_FP32']);
  assert.deepEqual(config.dynamic_batching, { preferred_batch_size: [], max_queue_delay_microseconds: 0 });
  assert.match(stdout, /batching: max_batch_size 64: every input and output has a symbolic batch \('batch'\) on axis 0; max_batch_size is the default/);
});

test('--max-batch, --max-queue-delay-us and --preferred-batch go into the dynamic batcher', async () => {
  const { config, stdout } = await tritonEntry('cnn', ['--gpus', '2', '--max-batch', '32', '--max-queue-delay-us', '250', '--preferred-batch', '8,16']);
  assert.equal(config.max_batch_size, 32);
  assert.deepEqual(dims(config.input), { image: [3, 16, 16] });
  assert.deepEqual(config.dynamic_batching, { preferred_batch_size: [8, 16], max_queue_delay_microseconds: 250 });
  assert.match(stdout, /max_batch_size from --max-batch/);
  assert.match(stdout, /dynamic batching: max queue delay 250 us, preferred batch sizes 8, 16/);
});

test('a fixed batch: max_batch_size 0 with the full dims, and the report says why', async () => {
  for (const [name, batch] of [['fixed_batch1', 1], ['fixed_batch2', 2]] as const) {
    const { config, stdout } = await tritonEntry(name, ['--gpus', '2']);
    assert.equal(config.max_batch_size, 0);
    assert.deepEqual(dims(config.input), { x: [batch, 4, 6] });
    assert.deepEqual(dims(config.output), { y: [batch, 5] });
    assert.equal(config.dynamic_batching, undefined);
    assert.match(stdout, new RegExp(`batching: max_batch_size 0: input 'x' has a fixed batch of ${batch}`));
  }
});

test('recurrent state with the batch on axis 1: max_batch_size 0, -1 where the batch is', async () => {
  const state = await tritonEntry('recurrent_state', ['--gpus', '2']);
  assert.equal(state.config.max_batch_size, 0);
  assert.deepEqual(dims(state.config.input), { x: [-1, 8], state: [2, -1, 64] });
  assert.deepEqual(dims(state.config.output), { y: [-1, 64], new_state: [2, -1, 64] });
  assert.match(state.stdout, /input 'state' has its batch on axis 1 \(dim 'batch'\), while Triton batches on axis 0 only/);

  const gru = await tritonEntry('gru_with_state', ['--gpus', '2']);
  assert.equal(gru.config.max_batch_size, 0);
  assert.deepEqual(dims(gru.config.input), { X: [4, -1, 6], initial_h: [1, -1, 8] });
  assert.deepEqual(dims(gru.config.output), { Y: [4, 1, -1, 8], Y_h: [1, -1, 8] });

  const lstm = await tritonEntry('lstm', ['--gpus', '2']);
  assert.equal(lstm.config.max_batch_size, 0);
  assert.deepEqual(dims(lstm.config.input), { X: [5, -1, 8] });
  assert.deepEqual(dims(lstm.config.output), { Y: [5, 1, -1, 16], Y_h: [1, -1, 16] });
  assert.match(lstm.stdout, /input 'X' has its batch on axis 1 \(dim 'batch'\).*output 'Y' has its batch on axis 2/);
});

test('a rank-0 side input: max_batch_size 0, the scalar written as dims [1] without reshape, as Triton takes it', async () => {
  const { config, stdout } = await tritonEntry('scalar_side_input', ['--gpus', '2']);
  assert.equal(config.max_batch_size, 0);
  assert.deepEqual(config.input, [
    { name: 'audio', data_type: 'TYPE_FP32', dims: [-1, 32] },
    { name: 'gain', data_type: 'TYPE_FP32', dims: [1] },
  ]);
  assert.deepEqual(dims(config.output), { features: [-1, 4] });
  assert.match(stdout, /input 'gain' has no batch axis \(rank 0\)/);
  assert.match(stdout, /input  gain: TYPE_FP32 dims \[1\] \(no batch axis: rank 0\)/);
  await assertShapesFromOnnxruntime('scalar_side_input', config, { audio: ['batch', 32], gain: [] });
});

test('the If condition of if_outer_scope: a bool scalar as dims [1]', async () => {
  const { config } = await tritonEntry('if_outer_scope', ['--gpus', '1']);
  assert.equal(config.max_batch_size, 0);
  assert.deepEqual(config.input, [
    { name: 'x', data_type: 'TYPE_FP32', dims: [-1, 4] },
    { name: 'use_add', data_type: 'TYPE_BOOL', dims: [1] },
  ]);
  await assertShapesFromOnnxruntime('if_outer_scope', config, { x: ['batch', 4], use_add: [] });
});

test('a batch-only input and output ([batch]): dims [1] reshaped to [] when Triton batches, dims [-1] when it cannot', async () => {
  const file = saveBuilt('batch_only', [['ids', DT.INT64, ['batch']], ['x', DT.FLOAT, ['batch', 3]]], [['score', DT.FLOAT, ['batch']], ['y', DT.FLOAT, ['batch', 3]]], [
    makeNode('Cast', ['ids'], ['score'], { to: DT.FLOAT }),
    makeNode('Relu', ['x'], ['y']),
  ]);
  const batching = triton(file, ['--gpus', '1']);
  assert.equal(batching.status, 0, batching.stderr);
  const config = await checkEntry(path.join(batching.repo, 'batch_only'), file);
  assert.equal(config.max_batch_size, 64);
  assert.deepEqual(config.input, [
    { name: 'ids', data_type: 'TYPE_INT64', dims: [1], reshape: { shape: [] } },
    { name: 'x', data_type: 'TYPE_FP32', dims: [3] },
  ]);
  assert.deepEqual(config.output, [
    { name: 'score', data_type: 'TYPE_FP32', dims: [1], reshape: { shape: [] } },
    { name: 'y', data_type: 'TYPE_FP32', dims: [3] },
  ]);
  const whole = triton(file, ['--gpus', '1', '--axis', 'x=none']);
  assert.equal(whole.status, 0, whole.stderr);
  const unbatched = await checkEntry(path.join(whole.repo, 'batch_only'), file);
  assert.equal(unbatched.max_batch_size, 0);
  assert.deepEqual(unbatched.input.map((t) => [t.name, t.dims, t.reshape]), [['ids', [-1], undefined], ['x', [-1, 3], undefined]]);
});

test('fp16: TYPE_FP16 inputs and outputs', async () => {
  const { config } = await tritonEntry('fp16_weights', ['--gpus', '1']);
  assert.equal(config.max_batch_size, 64);
  assert.deepEqual(config.input, [{ name: 'x', data_type: 'TYPE_FP16', dims: [8] }]);
  assert.deepEqual(config.output, [{ name: 'y', data_type: 'TYPE_FP16', dims: [4] }]);
});

test('external data: the side file is copied beside model.onnx, and the entry loads from there', async () => {
  const { config, repo } = await tritonEntry('external_data', ['--gpus', '2']);
  assert.equal(config.max_batch_size, 64);
  const version = path.join(repo, 'external_data', '1');
  assert.deepEqual(readdirSync(version).sort(), ['external_data.weights', 'model.onnx']);
  assert.ok(readFileSync(path.join(version, 'external_data.weights')).equals(readFileSync(path.join(fixturesDir, 'external_data.weights'))));
});

test('--weights become instance counts; --devices with repeats and cpu', async () => {
  const weighted = await tritonEntry('mlp', ['--devices', 'cuda:0,cuda:1', '--weights', '2,1']);
  assert.deepEqual(weighted.config.instance_group, [
    { kind: 'KIND_GPU', count: 2, gpus: [0] },
    { kind: 'KIND_GPU', count: 1, gpus: [1] },
  ]);
  assert.match(weighted.stdout, /instances: 2 on GPU 0, 1 on GPU 1/);
  const mixed = await tritonEntry('mlp', ['--devices', 'cuda:0,cuda:2,cuda:0', '--devices', 'cpu']);
  assert.deepEqual(mixed.config.instance_group, [
    { kind: 'KIND_GPU', count: 2, gpus: [0] },
    { kind: 'KIND_GPU', count: 1, gpus: [2] },
    { kind: 'KIND_CPU', count: 1, gpus: [] },
  ]);
  const fractional = await tritonEntry('mlp', ['--devices', 'cuda:0,cuda:1', '--weights', '1.5,0.5']);
  assert.deepEqual(fractional.config.instance_group.map((g) => g.count), [3, 1]);
});

test('--axis and --combine work as in the rewrite, and say why the model cannot batch', async () => {
  const noAxis = await tritonEntry('two_in_two_out', ['--gpus', '1', '--axis', 'mask=none']);
  assert.equal(noAxis.config.max_batch_size, 0);
  assert.deepEqual(dims(noAxis.config.input), { features: [-1, 8], mask: [-1, 4] });
  assert.match(noAxis.stdout, /input 'mask' has no batch axis \(given with --axis\)/);

  const file = saveBuilt('with_total', [['x', DT.FLOAT, ['batch', 4]]], [['y', DT.FLOAT, ['batch', 4]], ['total', DT.FLOAT, [4]]], [
    makeNode('Relu', ['x'], ['y']),
    makeNode('ReduceMax', ['x'], ['total'], { axes: [0], keepdims: 0 }),
  ]);
  const plain = triton(file, ['--gpus', '2']);
  assert.equal(plain.status, 0, plain.stderr);
  const config = await checkEntry(path.join(plain.repo, 'with_total'), file);
  assert.equal(config.max_batch_size, 0);
  assert.deepEqual(dims(config.output), { y: [-1, 4], total: [4] });
  assert.match(plain.stdout, /output 'total' has no batch axis \(no dim 'batch' and a fixed first dim\) and would need --combine/);
  const combined = triton(file, ['--gpus', '2', '--combine', 'total=sum', '--json']);
  assert.equal(combined.status, 0, combined.stderr);
  const report = JSON.parse(combined.stdout);
  assert.equal(report.maxBatchSize, 0);
  assert.deepEqual(report.batching.blockers, ["output 'total' is combined with sum across replicas, while Triton's batcher can only cut outputs on axis 0"]);
  assert.equal(report.outputs[1].combine, 'sum');
});

test('string, bool and int64 values, a rank-1 batched value (dims [1] reshaped to []) and names that need quoting', async () => {
  const odd = 'in "put"\\\u00e9';
  const file = saveBuilt('types', [[odd, DT.STRING, ['batch']], ['flag', DT.BOOL, ['batch', 2]], ['ids', DT.INT64, ['batch', 3]]], [
    ['text', DT.STRING, ['batch']], ['not_flag', DT.BOOL, ['batch', 2]], ['same_ids', DT.INT64, ['batch', 3]],
  ], [makeNode('Identity', [odd], ['text']), makeNode('Not', ['flag'], ['not_flag']), makeNode('Identity', ['ids'], ['same_ids'])]);
  const run = triton(file, ['--gpus', '1']);
  assert.equal(run.status, 0, run.stderr);
  const config = await checkEntry(path.join(run.repo, 'types'), file);
  assert.equal(config.max_batch_size, 64);
  assert.deepEqual(config.input, [
    { name: odd, data_type: 'TYPE_STRING', dims: [1], reshape: { shape: [] } },
    { name: 'flag', data_type: 'TYPE_BOOL', dims: [2] },
    { name: 'ids', data_type: 'TYPE_INT64', dims: [3] },
  ]);
  assert.deepEqual(config.output.map((t) => t.data_type), ['TYPE_STRING', 'TYPE_BOOL', 'TYPE_INT64']);
});

test('--json reports what was decided, and the library gives the same config', async () => {
  const run = triton(fixture('recurrent_state'), ['--gpus', '2', '--name', 'rnn', '--json']);
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.entry, path.join(run.repo, 'rnn'));
  assert.deepEqual(report.files, ['rnn/config.pbtxt', 'rnn/1/model.onnx']);
  assert.equal(report.maxBatchSize, 0);
  assert.equal(report.batching.enabled, false);
  assert.equal(report.batching.blockers.length, 2);
  assert.deepEqual(report.inputs.map((i: { name: string; axis: number }) => [i.name, i.axis]), [['x', 0], ['state', 1]]);
  const { config } = describeTritonModel(await loadModel(fixture('recurrent_state')), { devices: ['cuda:0', 'cuda:1'], name: 'rnn' });
  assert.equal(readFileSync(path.join(run.repo, 'rnn', 'config.pbtxt'), 'utf8'), formatModelConfig(config));
  await checkEntry(path.join(run.repo, 'rnn'), fixture('recurrent_state'));
});

test('the default name is the file\'s stem made safe as a folder name; the repository folder is created', async () => {
  const folder = workFolder();
  const file = path.join(folder, 'my model (v2).onnx');
  copyFileSync(fixture('mlp'), file);
  const repo = path.join(folder, 'deep', 'repo');
  const run = triton(file, ['--gpus', '1'], repo);
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(readdirSync(repo), ['my_model_v2_']);
  await checkEntry(path.join(repo, 'my_model_v2_'), file);
});

test('an existing entry is refused without --force and replaced with it', async () => {
  const first = triton(fixture('mlp'), ['--gpus', '1']);
  assert.equal(first.status, 0, first.stderr);
  const again = triton(fixture('mlp'), ['--gpus', '2'], first.repo);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /mlp: the model repository has this entry already; give --force to replace it/);
  assert.equal(parseConfig(readFileSync(path.join(first.repo, 'mlp', 'config.pbtxt'), 'utf8')).instance_group.length, 1, 'the entry is untouched');
  const forced = triton(fixture('mlp'), ['--gpus', '2', '--force'], first.repo);
  assert.equal(forced.status, 0, forced.stderr);
  assert.match(forced.stdout, /\(replaced\)/);
  assert.equal((await checkEntry(path.join(first.repo, 'mlp'), fixture('mlp'))).instance_group.length, 2);
  assert.deepEqual(readdirSync(first.repo), ['mlp'], 'no temporary or old folders left');
});

test('--kserve writes an InferenceService for Triton that asks for the GPUs the instance groups use', async () => {
  const folder = workFolder();
  const manifest = path.join(folder, 'isvc.yaml');
  const run = triton(fixture('mlp'), ['--devices', 'cuda:0,cuda:1', '--weights', '2,1', '--name', 'My_Model', '--kserve', manifest, '--storage-uri', 's3://bucket/model_repository']);
  assert.equal(run.status, 0, run.stderr);
  await checkEntry(path.join(run.repo, 'My_Model'), fixture('mlp'));
  const text = readFileSync(manifest, 'utf8');
  const isvc = parseYaml(text);
  assert.equal(isvc.apiVersion, 'serving.kserve.io/v1beta1');
  assert.equal(isvc.kind, 'InferenceService');
  assert.equal(isvc.metadata.name, 'my-model');
  assert.match(isvc.metadata.name, /^[a-z]([-a-z0-9]*[a-z0-9])?$/);
  assert.deepEqual(isvc.spec.predictor.model, {
    modelFormat: { name: 'triton' },
    storageUri: 's3://bucket/model_repository',
    resources: { limits: { 'nvidia.com/gpu': 2 } },
  });
  assert.equal(isvc.spec.predictor.minReplicas, 1);
  assert.equal(isvc.spec.predictor.maxReplicas, 1);
  const doc = parseDocument(text);
  assert.deepEqual(doc.errors, []);
  assert.match(text, /# Scale out: each replica is one pod running Triton on its own 2 GPUs/);
  assert.match(text, /# .*maxReplicas/);
  assert.match(text, /\/v2\/models\/My_Model\/infer/);
  assert.match(run.stdout, /kserve: .*isvc\.yaml: InferenceService my-model, 2 GPUs per pod/);

  const cpu = triton(fixture('mlp'), ['--devices', 'cpu', '--kserve', path.join(folder, 'cpu.yaml'), '--storage-uri', 'pvc://models/repo']);
  assert.equal(cpu.status, 0, cpu.stderr);
  const cpuIsvc = parseYaml(readFileSync(path.join(folder, 'cpu.yaml'), 'utf8'));
  assert.equal(cpuIsvc.spec.predictor.model.resources, undefined, 'no GPU asked for a CPU model');
});

/** Bad input: exit 2, one line naming the problem, and nothing left in the repository's parent folder. */
function refused(args: string[], message: RegExp, setup?: (folder: string) => void): void {
  const folder = workFolder();
  setup?.(folder);
  const before = readdirSync(folder).sort();
  const result = runCli(['triton', ...args.map((a) => a.replace('$DIR', folder))]);
  assert.equal(result.status, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^onnx-parallelize: [^\n]+\n$/, `one line: ${result.stderr}`);
  assert.match(result.stderr, message);
  assert.deepEqual(readdirSync(folder).sort(), before, `${args.join(' ')}: nothing written`);
  if (existsSync(path.join(folder, 'repo'))) assert.deepEqual(readdirSync(path.join(folder, 'repo')).filter((f) => f !== 'mlp'), [], 'nothing in the repository');
}

test('bad input: exit 2, one line, no files', () => {
  const mlp = fixture('mlp');
  const repo = ['--repo', '$DIR/repo'];
  refused([mlp, '--devices', 'tpu:0', ...repo], /'tpu:0' is not a device; use cuda:K or cpu/);
  refused([mlp, ...repo], /give exactly one of --gpus N or --devices LIST/);
  refused([mlp, '--gpus', '2', '--name', '../evil', ...repo], /--name '\.\.\/evil': not a safe folder name/);
  refused([mlp, '--gpus', '2', '--name', '.hidden', ...repo], /not a safe folder name/);
  refused([mlp, '--gpus', '2', '--kserve', '$DIR/isvc.yaml', ...repo], /--kserve needs --storage-uri/);
  refused([mlp, '--gpus', '2', '--storage-uri', 's3://b/r', ...repo], /--storage-uri goes with --kserve/);
  refused([mlp, '--gpus', '2', '--kserve', '$DIR/isvc.yaml', '--storage-uri', 'bucket/repo', ...repo], /--storage-uri 'bucket\/repo': give the URI KServe fetches/);
  refused([mlp, '--devices', 'cuda:0,cuda:2', '--kserve', '$DIR/isvc.yaml', '--storage-uri', 's3://b/r', ...repo], /sees them as 0\.\.1, but the instance groups name GPU 2/);
  refused([mlp, '--gpus', '2', '--kserve', '$DIR/missing/isvc.yaml', '--storage-uri', 's3://b/r', ...repo], /the folder .*missing does not exist/);
  refused([mlp, '--gpus', '2', '--kserve', '$DIR/isvc.yaml', '--storage-uri', 's3://b/r', ...repo], /isvc\.yaml: the file exists; give --force/, (folder) => writeFileSync(path.join(folder, 'isvc.yaml'), 'mine'));
  refused([mlp, '--gpus', '2', '--max-batch', '0', ...repo], /--max-batch must be a whole number from 1 to 2147483647 \(got 0\)/);
  refused([mlp, '--gpus', '2', '--max-batch', '2.5', ...repo], /--max-batch must be a whole number/);
  refused([mlp, '--gpus', '2', '--max-batch', 'lots', ...repo], /--max-batch must be a whole number/);
  refused([mlp, '--gpus', '2', '--max-queue-delay-us', '-1', ...repo], /--max-queue-delay-us must be a whole number from 0/);
  refused([mlp, '--gpus', '2', '--preferred-batch', '8,128', ...repo], /--preferred-batch 8,128: each size must be a whole number from 1 to 64 \(got 128\)/);
  refused([mlp, '--gpus', '2', '--preferred-batch', '8,x', ...repo], /--preferred-batch 8,x: each size must be a whole number/);
  refused([mlp, '--gpus', '2', '--preferred-batch', '8,8', ...repo], /give each size once/);
  refused([fixture('fixed_batch1'), '--gpus', '2', '--max-batch', '8', ...repo], /--max-batch 8: the model cannot take Triton's batching \(input 'x' has a fixed batch of 1\)/);
  refused([mlp, '--devices', 'cuda:0,cuda:1', '--weights', '65,1', ...repo], /asks for 65 instances on cuda:0/);
  refused([mlp, '--gpus', '2', '--weights', '1,2,3', ...repo], /--weights has 3 values for 2 devices/);
  refused([mlp, '--gpus', '2', '--axis', 'nope=0', ...repo], /--axis nope: the model has no input or output named 'nope'/);
  refused([mlp, '--gpus', '2', '--combine', 'y=median', ...repo], /--combine y=median: use one of/);
  refused(['$DIR/none.onnx', '--gpus', '2', ...repo], /none\.onnx: no such file/);
  refused([mlp, '--gpus', '2', '--repo', '$DIR/file'], /--repo .*file: not a folder/, (folder) => writeFileSync(path.join(folder, 'file'), ''));
  refused([mlp, '--gpus', '2', ...repo], /the model repository has this entry already/, (folder) => mkdirSync(path.join(folder, 'repo', 'mlp'), { recursive: true }));
  refused(['$DIR/rewritten.onnx', '--gpus', '2', ...repo], /rewritten by onnx-parallelize already .* give the original model/, (folder) => {
    const done = runCli([mlp, '--gpus', '2', '-o', path.join(folder, 'rewritten.onnx')]);
    assert.equal(done.status, 0, done.stderr);
  });
});

test('bad input found while writing (a missing external-data file) leaves nothing behind, not even the new repository', () => {
  refused(['$DIR/external_data.onnx', '--gpus', '2', '--repo', '$DIR/new/repo'], /external_data\.weights: external data of .* is missing/, (folder) => {
    copyFileSync(fixture('external_data'), path.join(folder, 'external_data.onnx'));
  });
});

test('models Triton cannot describe are refused: no shape, a type Triton has no name for', () => {
  const noShape = saveBuilt('no_shape', [['x', DT.FLOAT, undefined]], [['y', DT.FLOAT, ['batch', 4]]], [makeNode('Relu', ['x'], ['y'])]);
  refused([noShape, '--gpus', '1', '--repo', '$DIR/repo'], /input 'x' has no shape in the model/);
  const complex = saveBuilt('complex', [['x', DT.COMPLEX64, ['batch', 4]]], [['y', DT.COMPLEX64, ['batch', 4]]], [makeNode('Identity', ['x'], ['y'])]);
  refused([complex, '--gpus', '1', '--repo', '$DIR/repo'], /input 'x' has element type complex64, which Triton's model configuration has no type for/);
});

test('a failure at the last step (the manifest cannot be renamed into place) puts the replaced entry back', async () => {
  const first = triton(fixture('mlp'), ['--gpus', '1']);
  assert.equal(first.status, 0, first.stderr);
  const folder = path.dirname(first.repo);
  mkdirSync(path.join(folder, 'isvc.yaml', 'taken'), { recursive: true });
  const run = runCli(['triton', fixture('mlp'), '--repo', first.repo, '--gpus', '2', '--force', '--kserve', path.join(folder, 'isvc.yaml'), '--storage-uri', 's3://b/r']);
  assert.equal(run.status, 2, run.stdout);
  assert.match(run.stderr, /^onnx-parallelize: .*mlp: cannot write the model repository entry \([^\n]+\)\n$/);
  assert.deepEqual(readdirSync(first.repo), ['mlp'], 'no temporary folders left');
  assert.deepEqual(readdirSync(folder).sort(), ['isvc.yaml', 'repo'], 'no temporary manifest left');
  assert.equal((await checkEntry(path.join(first.repo, 'mlp'), fixture('mlp'))).instance_group.length, 1, 'the old entry is back');
});

test('--cuda-option: the options Triton\'s ONNX Runtime backend reads as model parameters are written there, as it reads them', async () => {
  const { config, stdout } = await tritonEntry('mlp', [
    '--gpus', '2',
    '--cuda-option', 'gpu_mem_limit=4GiB',
    '--cuda-option', 'cudnn_conv_algo_search=HEURISTIC',
    '--cuda-option', 'arena_extend_strategy=kSameAsRequested',
    '--cuda-option', 'do_copy_in_default_stream=false',
  ]);
  // The backend reads cudnn_conv_algo_search and arena_extend_strategy as numbers (0 = EXHAUSTIVE / kNextPowerOfTwo).
  assert.deepEqual(config.parameters, { gpu_mem_limit: '4294967296', cudnn_conv_algo_search: '1', arena_extend_strategy: '1', do_copy_in_default_stream: '0' });
  assert.match(stdout, /parameters \(CUDA, every GPU instance\): gpu_mem_limit 4294967296, cudnn_conv_algo_search 1, arena_extend_strategy 1, do_copy_in_default_stream 0/);
  const plain = await tritonEntry('mlp', ['--gpus', '1']);
  assert.deepEqual(plain.config.parameters, {});
});

test('--cuda-option the backend does not read from parameters, for one GPU only, or with no GPU instance: refused with the reason (exit 2)', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--gpus', '2', '--cuda-option', 'use_tf32=0'], /^onnx-parallelize: --cuda-option use_tf32=0: Triton's ONNX Runtime backend reads only cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy, do_copy_in_default_stream from a model's parameters; leave use_tf32 out of the export/],
    [['--gpus', '2', '--cuda-option', 'gpu_mem_limit=1GB@cuda:1'], /^onnx-parallelize: --cuda-option gpu_mem_limit=1GB@cuda:1: Triton applies a model's parameters to every instance on every GPU, so an option cannot differ per GPU; give it without @cuda:1\n$/],
    [['--devices', 'cpu', '--cuda-option', 'gpu_mem_limit=1GB'], /the entry has no GPU instance \(devices cpu\), so CUDA options would apply to nothing; leave them out/],
    [['--gpus', '1', '--cuda-option', 'gpu_mem_limit=much'], /--cuda-option gpu_mem_limit=much: gpu_mem_limit must be a number of bytes/],
  ];
  for (const [args, message] of cases) {
    const run = triton(fixture('mlp'), args);
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, message);
    assert.equal(existsSync(run.repo), false, `${args.join(' ')}: nothing written`);
  }
});

test('--devices past the GPUs of this machine: a warning, and the entry is written (it is often built for another machine)', async () => {
  const folder = fakeNvidiaSmi(TWO_H200);
  const repo = path.join(workFolder(), 'repo');
  const result = spawnSync(process.execPath, [cliPath, 'triton', fixture('mlp'), '--devices', 'cuda:0,cuda:3', '--repo', repo, '--json'], { encoding: 'utf8', env: envWith(folder) });
  assert.equal(result.status, 0, result.stderr);
  const warning = '--devices cuda:0,cuda:3: cuda:3 does not exist; this machine has 2 GPUs: cuda:0 (NVIDIA H200, 141 GB), cuda:1 (NVIDIA H200, 141 GB); the entry is written all the same, for a machine that has them';
  assert.equal(result.stderr, `onnx-parallelize: warning: ${warning}\n`);
  assert.deepEqual(JSON.parse(result.stdout).warnings, [warning]);
  const config = await checkEntry(path.join(repo, 'mlp'), fixture('mlp'));
  assert.deepEqual(config.instance_group.map((g) => g.gpus), [[0], [3]]);
  // --gpus all: every GPU found here.
  const all = spawnSync(process.execPath, [cliPath, 'triton', fixture('mlp'), '--gpus', 'all', '--repo', path.join(workFolder(), 'repo'), '--json'], { encoding: 'utf8', env: envWith(folder, { CUDA_VISIBLE_DEVICES: '1' }) });
  assert.equal(all.status, 0, all.stderr);
  assert.deepEqual(JSON.parse(all.stdout).devices, ['cuda:0']);
});
