/**
 * Reading Triton model repositories: versions and version policies, models of other backends skipped, failures
 * with their reasons, auto-complete from the ONNX fixtures, configurations as ParallelSession options (one run on
 * the real onnxruntime), load-request overrides (no temporary file left behind), lone .onnx files, and the round
 * trip from `onnx-parallelize triton` (with a KServe manifest in a new repository) back through the scanner.
 */
// The GPUs this machine may have are hidden, so that default instance groups are the same everywhere.
process.env['CUDA_VISIBLE_DEVICES'] = '-1';

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { writeTritonEntry } from '../src/triton/repository.js';
import {
  AUTO_COMPLETE_MAX_BATCH,
  modelFingerprint,
  modelFromFile,
  parseModelConfig,
  readRepositoryModel,
  scanRepository,
  servingPolicyOf,
  sessionOptionsOf,
  sourceMetadata,
  type ModelConfig,
} from '../src/repository/index.js';
import { normalizeInstanceGroups } from '../src/repository/normalize.js';
import { fixture, fixtureNames, runCli, tempDir } from './helpers.js';

const folders: string[] = [];
after(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});
function repository(): string {
  const folder = tempDir('onnx-parallelize-repository-');
  folders.push(folder);
  return folder;
}

/** ROOT/NAME with config.pbtxt (when given) and VERSION/FILE copied from fixtures (or written from bytes). */
function entry(root: string, name: string, versions: Record<string, string | Uint8Array>, config?: string, file = 'model.onnx'): string {
  const folder = path.join(root, name);
  mkdirSync(folder, { recursive: true });
  if (config !== undefined) writeFileSync(path.join(folder, 'config.pbtxt'), config);
  for (const [version, model] of Object.entries(versions)) {
    mkdirSync(path.join(folder, version), { recursive: true });
    if (typeof model === 'string') copyFileSync(fixture(model), path.join(folder, version, file));
    else writeFileSync(path.join(folder, version, file), model);
  }
  return folder;
}

const loadFolders = (): string[] => readdirSync(os.tmpdir()).filter((f) => f.startsWith('onnx-parallelize-load-'));

test('a repository: versions by policy, default_model_filename, other backends skipped by name, failures with reasons', async () => {
  const root = repository();
  entry(root, 'latest', { '1': 'mlp', '2': 'mlp', '10': 'mlp', '01': 'mlp', abc: 'mlp' });
  entry(root, 'latest2', { '1': 'mlp', '2': 'mlp', '3': 'mlp' }, 'version_policy { latest { num_versions: 2 } }');
  entry(root, 'all', { '1': 'mlp', '3': 'mlp' }, 'name: "all"\nversion_policy: { all { } }');
  entry(root, 'specific', { '1': 'mlp', '2': 'mlp', '3': 'mlp' }, 'version_policy { specific { versions: [ 3, 1 ] } }');
  entry(root, 'renamed_file', { '1': 'mlp' }, 'default_model_filename: "net.onnx"', 'net.onnx');
  entry(root, 'python', { '1': new Uint8Array() }, undefined, 'model.py');
  entry(root, 'trt', { '1': new Uint8Array() }, 'platform: "tensorrt_plan"');
  entry(root, 'torch', { '1': 'mlp' }, 'backend: "pytorch"');
  entry(root, 'ens', {}, 'platform: "ensemble" ensemble_scheduling { step [ { model_name: "a" model_version: -1 } ] }');
  entry(root, 'missing_version', { '1': 'mlp' }, 'version_policy { specific { versions: [ 1, 4 ] } }');
  entry(root, 'no_versions', {});
  entry(root, 'wrong_name', { '1': 'mlp' }, 'name: "other"');
  entry(root, 'bad_config', { '1': 'mlp' }, 'name: "bad_config"\ninstance_group [ { kind: KIND_GPU count: two } ]');
  entry(root, 'not_onnx', { '1': new TextEncoder().encode('not a model') });
  entry(root, 'no_file', { '1': 'mlp' }, 'default_model_filename: "other.onnx"');
  entry(root, '.hidden', { '1': 'mlp' });
  writeFileSync(path.join(root, 'README.md'), 'a file at the top is not a model');

  const scan = await scanRepository(root);
  const versions = Object.fromEntries(scan.models.map((m) => [m.name, m.versions.map((v) => v.version)]));
  assert.deepEqual(versions, { all: ['1', '3'], latest: ['10'], latest2: ['2', '3'], renamed_file: ['1'], specific: ['1', '3'] });
  const latest = scan.models.find((m) => m.name === 'latest')!;
  assert.equal(latest.versions[0]!.modelFile, path.join(root, 'latest', '10', 'model.onnx'));
  assert.equal(latest.configFile, undefined);
  assert.equal(scan.models.find((m) => m.name === 'all')!.configFile, path.join(root, 'all', 'config.pbtxt'));
  assert.equal(scan.models.find((m) => m.name === 'renamed_file')!.versions[0]!.modelFile, path.join(root, 'renamed_file', '1', 'net.onnx'));

  const reasons = (list: Array<{ name: string; reason: string }>): Record<string, string> => Object.fromEntries(list.map((e) => [e.name, e.reason]));
  const skipped = reasons(scan.skipped);
  assert.deepEqual(Object.keys(skipped).sort(), ['ens', 'python', 'torch', 'trt']);
  assert.match(skipped['python']!, /model\.py \(backend 'python'\)/);
  assert.match(skipped['trt']!, /platform is 'tensorrt_plan'/);
  assert.match(skipped['torch']!, /backend is 'pytorch'/);
  assert.match(skipped['ens']!, /ensemble/);

  const failed = reasons(scan.failed);
  assert.deepEqual(Object.keys(failed).sort(), ['bad_config', 'missing_version', 'no_file', 'no_versions', 'not_onnx', 'wrong_name']);
  assert.equal(failed['wrong_name'], "unexpected directory name 'wrong_name' for model 'other', directory name must equal model name");
  assert.equal(failed['bad_config'], `${path.join(root, 'bad_config', 'config.pbtxt')}:2:42: expected an integer for field "count" (int32), got 'two'`);
  assert.match(failed['missing_version']!, /version 4 is specified \(version_policy\) but the version folder is not present/);
  assert.match(failed['no_versions']!, /no version is available: no version folder/);
  assert.match(failed['not_onnx']!, /not_onnx\/1\/model\.onnx/);
  assert.match(failed['no_file']!, /version 1 has no model file .*other\.onnx/);
});

test('readRepositoryModel: one model by name; an unknown, skipped or failing model is refused with "failed to load"', async () => {
  const root = repository();
  entry(root, 'mlp', { '1': 'mlp', '2': 'mlp' });
  entry(root, 'python', { '1': new Uint8Array() }, 'backend: "python"');
  entry(root, 'wrong_name', { '1': 'mlp' }, 'name: "x"');
  const model = await readRepositoryModel(root, 'mlp');
  assert.deepEqual(model.versions.map((v) => v.version), ['2']);
  assert.equal(model.cleanup, undefined);
  await assert.rejects(readRepositoryModel(root, 'nope'), { name: 'InputError', message: `failed to load 'nope': no model 'nope' in the model repository ${root}` });
  await assert.rejects(readRepositoryModel(root, '../mlp'), /^InputError: failed to load '\.\.\/mlp': no model/);
  await assert.rejects(readRepositoryModel(root, 'python'), /^InputError: failed to load 'python': its backend is 'python'/);
  await assert.rejects(readRepositoryModel(root, 'wrong_name'), /^InputError: failed to load 'wrong_name': unexpected directory name 'wrong_name' for model 'x'/);
});

test("auto-complete from the fixtures, as Triton's onnxruntime backend completes a configuration", async () => {
  const root = repository();
  entry(root, 'mlp', { '1': 'mlp' });
  entry(root, 'fixed_batch2', { '1': 'fixed_batch2' });
  entry(root, 'scalar_side_input', { '1': 'scalar_side_input' });
  entry(root, 'recurrent_state', { '1': 'recurrent_state' });
  entry(root, 'partial', { '1': 'mlp' }, 'max_batch_size: 16\ninput [ { name: "x" data_type: TYPE_FP32 dims: [ 16 ] } ]');
  entry(root, 'given', { '1': 'mlp' }, 'input { name: "x" data_type: TYPE_FP32 dims: [ -1, 16 ] }\noutput { name: "y" data_type: TYPE_FP32 dims: [ -1, 8 ] }');
  entry(root, 'unbatchable', { '1': 'fixed_batch2' }, 'max_batch_size: 8');
  const scan = await scanRepository(root);
  const config = (name: string): ModelConfig => scan.models.find((m) => m.name === name)!.config;

  // Every input and output batches on a free axis 0: max_batch_size 4 (Triton's default), dims without the batch, the dynamic batcher on.
  assert.equal(AUTO_COMPLETE_MAX_BATCH, 4);
  const mlp = config('mlp');
  assert.equal(mlp.max_batch_size, 4);
  assert.deepEqual(mlp.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [16] }]);
  assert.deepEqual(mlp.output, [{ name: 'y', data_type: 'TYPE_FP32', dims: [8] }]);
  assert.deepEqual(mlp.dynamic_batching, { preferred_batch_size: [4] });
  assert.deepEqual(mlp.instance_group, [{ name: 'mlp', kind: 'KIND_CPU', count: 2 }]);
  assert.deepEqual(mlp.version_policy, { latest: { num_versions: 1 } });
  assert.equal(mlp.backend, 'onnxruntime');
  assert.equal(mlp.platform, 'onnxruntime_onnx');
  assert.equal(mlp.default_model_filename, 'model.onnx');
  assert.equal(mlp.name, 'mlp');
  // Metadata as Triton gives it: the batch as -1 in front, datatypes by the protocol's names.
  assert.deepEqual(sourceMetadata(scan.models.find((m) => m.name === 'mlp')!), {
    name: 'mlp',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 16] }],
    outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 8] }],
  });
  assert.deepEqual(sourceMetadata(scan.models.find((m) => m.name === 'scalar_side_input')!).inputs[1], { name: 'gain', datatype: 'FP32', shape: [1] });

  // A fixed batch: no batching, the full shapes.
  const fixed = config('fixed_batch2');
  assert.equal(fixed.max_batch_size, 0);
  assert.deepEqual(fixed.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [2, 4, 6] }]);
  assert.equal(fixed.dynamic_batching, undefined);

  // A scalar side input: no batching; the scalar is dims [1] (Triton refuses an empty reshape without batching),
  // which the model sees as a scalar.
  const scalarSource = scan.models.find((m) => m.name === 'scalar_side_input')!;
  const scalar = scalarSource.config;
  assert.equal(scalar.max_batch_size, 0);
  assert.deepEqual(scalar.input![1], { name: 'gain', data_type: 'TYPE_FP32', dims: [1] });
  assert.deepEqual(scalarSource.signature.inputs[1], { name: 'gain', dataType: 'TYPE_FP32', shape: [] });
  assert.deepEqual(servingPolicyOf(scalar, scalarSource.signature).inputs[1], { name: 'gain', dataType: 'TYPE_FP32', dims: [1], reshape: [] });
  assert.deepEqual(servingPolicyOf(scalar).inputs[1], { name: 'gain', dataType: 'TYPE_FP32', dims: [1] });
  assert.deepEqual(scalar.input![0]!.dims, [-1, 32]);

  // Batch on axis 1 (recurrent state): Triton batches on axis 0 only, so no batching and full dims.
  const recurrent = config('recurrent_state');
  assert.equal(recurrent.max_batch_size, 0);
  assert.deepEqual(recurrent.input!.map((t) => t.dims), [[-1, 8], [2, -1, 64]]);

  // A partial configuration keeps what it gives and gets the rest.
  const partial = config('partial');
  assert.equal(partial.max_batch_size, 16);
  assert.deepEqual(partial.output, [{ name: 'y', data_type: 'TYPE_FP32', dims: [8] }]);
  assert.deepEqual(partial.dynamic_batching, { preferred_batch_size: [16] });
  // Inputs and outputs both given: left as they are (no max_batch_size, no batcher), as Triton leaves them.
  const given = config('given');
  assert.equal(given.max_batch_size, 0);
  assert.equal(given.dynamic_batching, undefined);
  assert.deepEqual(given.input![0]!.dims, [-1, 16]);
  assert.match(scan.failed.find((f) => f.name === 'unbatchable')!.reason, /^autofill failed for model 'unbatchable': model does not support batching while non-zero max_batch_size is specified/);
});

test('instance groups, batching, queue policy and CUDA parameters become ParallelSession options; what has no equivalent is listed', () => {
  const config = parseModelConfig(
    `name: "m"
max_batch_size: 32
instance_group [ { kind: KIND_GPU count: 2 gpus: [ 0, 1 ] }, { kind: KIND_CPU count: 3 } ]
dynamic_batching { preferred_batch_size: [ 8, 16 ] max_queue_delay_microseconds: 1500
  default_queue_policy { max_queue_size: 100 default_timeout_microseconds: 250000 allow_timeout_override: true }
  priority_levels: 2 }
parameters { key: "gpu_mem_limit" value { string_value: "4294967296" } }
parameters { key: "cudnn_conv_algo_search" value { string_value: "1" } }
parameters { key: "intra_op_thread_count" value { string_value: "2" } }
parameters { key: "enable_mem_arena" value { string_value: "1" } }
input { name: "x" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [ ] } }
output { name: "y" data_type: TYPE_FP32 dims: [ 8 ] }`,
    'm/config.pbtxt',
  );
  const options = sessionOptionsOf(config, { minRowsPerDevice: 2, sessionOptions: { graphOptimizationLevel: 'all' } });
  assert.deepEqual(options.devices, ['cuda:0', 'cuda:0', 'cuda:1', 'cuda:1', 'cpu', 'cpu', 'cpu']);
  assert.deepEqual(options.batching, { maxBatch: 32, maxQueueDelayMs: 1.5, preferredBatch: [8, 16] });
  assert.equal(options.maxQueue, 100);
  assert.equal(options.minRowsPerDevice, 2);
  assert.deepEqual(options.sessionOptions, { graphOptimizationLevel: 'all', intraOpNumThreads: 2, executionProviders: [{ name: 'cuda', gpu_mem_limit: '4294967296', cudnn_conv_algo_search: 'HEURISTIC' }] });

  const policy = servingPolicyOf(config);
  assert.equal(policy.maxBatchSize, 32);
  assert.deepEqual(policy.queue, { defaultTimeoutMs: 250, timeoutAction: 'REJECT', allowTimeoutOverride: true, maxQueueSize: 100 });
  assert.deepEqual(policy.inputs, [{ name: 'x', dataType: 'TYPE_FP32', dims: [1], reshape: [] }]);
  assert.deepEqual(policy.outputs, [{ name: 'y', dataType: 'TYPE_FP32', dims: [8] }]);
  assert.deepEqual(policy.unsupported, ['dynamic_batching.priority_levels (all requests share one queue)', "parameters 'enable_mem_arena'"]);

  // Without dynamic_batching, requests run one by one (Triton's default scheduler); CUDA parameters of a CPU-only model are not used.
  const plain = sessionOptionsOf(parseModelConfig('max_batch_size: 8 instance_group { kind: KIND_CPU count: 1 } parameters { key: "gpu_mem_limit" value { string_value: "1" } }', 'c'));
  assert.deepEqual(plain, { devices: ['cpu'], batching: false, sessionOptions: {} });
  assert.deepEqual(servingPolicyOf(parseModelConfig('dynamic_batching { default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 5 } }', 'c')).unsupported, [
    'dynamic_batching.default_queue_policy.timeout_action DELAY (a timed-out request is rejected instead)',
  ]);

  // KIND_GPU without gpus is every GPU, as Triton places it; KIND_AUTO is the GPUs when there are, else the CPU.
  assert.deepEqual(normalizeInstanceGroups('m', [{ kind: 'KIND_GPU', count: 2 }], [0, 1]), [{ name: 'm_0', kind: 'KIND_GPU', count: 2, gpus: [0, 1] }]);
  assert.deepEqual(normalizeInstanceGroups('m', [{ kind: 'KIND_AUTO' }], []), [{ name: 'm_0', kind: 'KIND_CPU', count: 2 }]);
  assert.deepEqual(normalizeInstanceGroups('m', [], [0, 1]), [{ name: 'm', kind: 'KIND_GPU', count: 1, gpus: [0, 1] }]);
  assert.throws(() => sessionOptionsOf(parseModelConfig('instance_group { name: "g" kind: KIND_GPU }', 'c')), /instance_group 'g': KIND_GPU without gpus runs on every GPU, and no GPU was found; list the gpus, or use KIND_CPU/);
  assert.throws(() => sessionOptionsOf(parseModelConfig('instance_group { kind: KIND_MODEL }', 'c')), /KIND_MODEL .* is not supported/);
  assert.throws(() => sessionOptionsOf(parseModelConfig('instance_group { kind: KIND_CPU } parameters { key: "intra_op_thread_count" value { string_value: "two" } }', 'c')), /parameters 'intra_op_thread_count': expected a whole number/);
  assert.throws(() => sessionOptionsOf(parseModelConfig('instance_group { kind: KIND_GPU gpus: 0 } parameters { key: "arena_extend_strategy" value { string_value: "7" } }', 'c')), /parameters 'arena_extend_strategy': arena_extend_strategy must be one of kNextPowerOfTwo, kSameAsRequested/);
});

test('a repository model runs in a ParallelSession with the options of its configuration', { timeout: 120_000 }, async () => {
  const root = repository();
  entry(root, 'mlp', { '1': 'mlp' }, 'instance_group { kind: KIND_CPU count: 2 }\ndynamic_batching { max_queue_delay_microseconds: 100 }\nmax_batch_size: 8');
  const model = await readRepositoryModel(root, 'mlp');
  const options = sessionOptionsOf(model.config);
  assert.deepEqual(options.batching, { maxBatch: 8, maxQueueDelayMs: 0.1, preferredBatch: [8] });
  const session = await ParallelSession.create(model.versions[0]!.modelFile, options);
  try {
    assert.deepEqual(session.devices, ['cpu', 'cpu']);
    const rows = await Promise.all([1, 2, 3].map((n) => session.run({ x: new ort.Tensor('float32', new Float32Array(n * 16).fill(0.5), [n, 16]) })));
    assert.deepEqual(rows.map((r) => r['y']!.dims), [[1, 8], [2, 8], [3, 8]]);
  } finally {
    await session.release();
  }
});

test('load overrides: a JSON configuration, file overrides in a temporary folder that cleanup removes, and bad overrides', async () => {
  const root = repository();
  entry(root, 'mlp', { '1': 'mlp', '2': 'mlp' });
  const before = loadFolders();

  const overridden = await readRepositoryModel(root, 'mlp', { config: JSON.stringify({ max_batch_size: 2, version_policy: { all: {} }, instance_group: [{ kind: 'KIND_CPU', count: 1 }] }) });
  assert.equal(overridden.config.max_batch_size, 2);
  assert.deepEqual(overridden.versions.map((v) => v.version), ['1', '2']);
  assert.equal(overridden.configFile, undefined);
  assert.deepEqual(sessionOptionsOf(overridden.config).devices, ['cpu']);

  const bytes = new Uint8Array(readFileSync(fixture('two_in_two_out')));
  const config = JSON.stringify({ name: 'fresh', backend: 'onnxruntime', max_batch_size: 8 });
  const fresh = await readRepositoryModel(root, 'fresh', { config, files: { 'file:3/model.onnx': bytes } });
  assert.deepEqual(fresh.versions.map((v) => v.version), ['3']);
  assert.ok(existsSync(fresh.versions[0]!.modelFile));
  assert.deepEqual(fresh.config.input!.map((t) => t.name), ['features', 'mask']);
  assert.equal(loadFolders().length, before.length + 1);
  await fresh.cleanup!();
  assert.ok(!existsSync(fresh.versions[0]!.modelFile));
  assert.deepEqual(loadFolders(), before);

  const refused: Array<[string, Parameters<typeof readRepositoryModel>[2], RegExp]> = [
    ['mlp', { config: '{"max_batch_size": 2, "dynamic_batch": {}}' }, /^failed to load 'mlp': parameters\.config: unknown field "dynamic_batch" in inference\.ModelConfig/],
    ['mlp', { config: '{"name": "other"}' }, /^failed to load 'mlp': unexpected directory name 'mlp' for model 'other'/],
    ['mlp', { config: '{"version_policy": {"specific": {"versions": [5]}}}' }, /^failed to load 'mlp': version 5 is specified/],
    ['fresh', { files: { 'file:1/model.onnx': bytes } }, /^failed to load 'fresh': file overrides \(file:1\/model\.onnx\) need the config override too/],
    ['fresh', { config, files: { 'file:../model.onnx': bytes } }, /^failed to load 'fresh': file override 'file:\.\.\/model\.onnx': give a relative path/],
    ['fresh', { config, files: { 'file:model.onnx': bytes } }, /^failed to load 'fresh': file override 'file:model\.onnx': the path must start with a version folder/],
    ['fresh', { config, files: { 'file:1/model.onnx': new TextEncoder().encode('garbage') } }, /^failed to load 'fresh': .*model\.onnx/],
    ['fresh', { config, files: { 'file:1/other.onnx': bytes } }, /^failed to load 'fresh': version 1 has no model file/],
  ];
  for (const [name, override, message] of refused) {
    await assert.rejects(readRepositoryModel(root, name, override), (error: Error) => error.name === 'InputError' && message.test(error.message), `${name} ${JSON.stringify(override?.config)}`);
  }
  assert.deepEqual(loadFolders(), before, 'no temporary folder is left behind');
});

test('a model fingerprint changes when its files change, for polling', async () => {
  const root = repository();
  entry(root, 'mlp', { '1': 'mlp' });
  const first = await modelFingerprint(root, 'mlp');
  assert.equal(first, await modelFingerprint(root, 'mlp'));
  entry(root, 'mlp', { '2': 'mlp' });
  const second = await modelFingerprint(root, 'mlp');
  assert.notEqual(second, first);
  writeFileSync(path.join(root, 'mlp', 'config.pbtxt'), 'max_batch_size: 2');
  assert.notEqual(await modelFingerprint(root, 'mlp'), second);
  assert.equal(await modelFingerprint(root, 'gone'), undefined);
});

test('a lone .onnx file is a model: named by its stem, version 1, its configuration completed', async () => {
  const model = await modelFromFile(fixture('two_in_two_out'));
  assert.equal(model.name, 'two_in_two_out');
  assert.deepEqual(model.versions, [{ version: '1', modelFile: fixture('two_in_two_out') }]);
  assert.equal(model.config.max_batch_size, 4);
  assert.deepEqual(model.config.output!.map((t) => [t.name, t.dims]), [['score', [4]], ['gated', [4]]]);
  await assert.rejects(modelFromFile(path.join(repository(), 'none.onnx')), /none\.onnx: no such model file/);
  // A configuration to start from (a server's options): kept, and the rest completed from the model.
  const given = await modelFromFile(fixture('mlp'), { name: 'served', max_batch_size: 64, instance_group: [{ kind: 'KIND_CPU', count: 1 }], dynamic_batching: { max_queue_delay_microseconds: 100 } });
  assert.equal(given.name, 'served');
  assert.deepEqual(sessionOptionsOf(given.config), { devices: ['cpu'], batching: { maxBatch: 64, maxQueueDelayMs: 0.1, preferredBatch: [64] }, sessionOptions: {} });
  assert.deepEqual(given.config.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [16] }]);
  await assert.rejects(modelFromFile(fixture('fixed_batch2'), { max_batch_size: 8 }), /autofill failed for model 'fixed_batch2'/);
});

test('triton --kserve into a new repository, and everything triton writes reads back through the scanner', async () => {
  const root = path.join(repository(), 'new', 'repo');
  const manifest = path.join(root, 'isvc.yaml');
  const first = runCli(['triton', fixture('mlp'), '--repo', root, '--devices', 'cuda:0,cuda:1', '--weights', '2,1', '--max-batch', '16', '--preferred-batch', '4,8', '--max-queue-delay-us', '200', '--cuda-option', 'gpu_mem_limit=1GiB', '--kserve', manifest, '--storage-uri', 's3://bucket/repo']);
  assert.equal(first.status, 0, first.stderr);
  assert.ok(existsSync(manifest));
  const second = runCli(['triton', fixture('scalar_side_input'), '--repo', root, '--devices', 'cpu']);
  assert.equal(second.status, 0, second.stderr);

  const scan = await scanRepository(root);
  assert.deepEqual(scan.failed, []);
  assert.deepEqual(scan.skipped, []);
  const mlp = scan.models.find((m) => m.name === 'mlp')!;
  assert.equal(mlp.configFile, path.join(root, 'mlp', 'config.pbtxt'));
  assert.deepEqual(mlp.versions, [{ version: '1', modelFile: path.join(root, 'mlp', '1', 'model.onnx') }]);
  const options = sessionOptionsOf(mlp.config);
  assert.deepEqual(options.devices, ['cuda:0', 'cuda:0', 'cuda:1']);
  assert.deepEqual(options.batching, { maxBatch: 16, maxQueueDelayMs: 0.2, preferredBatch: [4, 8] });
  assert.deepEqual(options.sessionOptions!.executionProviders, [{ name: 'cuda', gpu_mem_limit: String(2 ** 30) }]);
  assert.deepEqual(mlp.config.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [16] }]);

  const scalar = scan.models.find((m) => m.name === 'scalar_side_input')!;
  assert.deepEqual(sessionOptionsOf(scalar.config).devices, ['cpu']);
  assert.deepEqual(scalar.config.input![1], { name: 'gain', data_type: 'TYPE_FP32', dims: [1] });
  assert.deepEqual(servingPolicyOf(scalar.config, scalar.signature).inputs[1], { name: 'gain', dataType: 'TYPE_FP32', dims: [1], reshape: [] });

  // A manifest in a folder that is neither there nor the repository is still refused, and leaves nothing behind.
  const other = path.join(repository(), 'repo2');
  const refused = runCli(['triton', fixture('mlp'), '--repo', other, '--devices', 'cpu', '--kserve', path.join(other, 'sub', 'isvc.yaml'), '--storage-uri', 's3://b/r']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /the folder .*sub does not exist/);
  assert.ok(!existsSync(other));
});

test("a configuration that does not fit its model fails as Triton's backend fails it", async () => {
  const root = repository();
  const io = (input: string, output = 'output { name: "y" data_type: TYPE_FP32 dims: [ 8 ] }'): string => `max_batch_size: 8\n${input}\n${output}`;
  const x = 'input { name: "x" data_type: TYPE_FP32 dims: [ 16 ] }';
  entry(root, 'fits', { '1': 'mlp' }, io(x));
  entry(root, 'two_inputs', { '1': 'mlp' }, io(`${x}\ninput { name: "z" data_type: TYPE_FP32 dims: [ 1 ] }`));
  entry(root, 'unknown_input', { '1': 'mlp' }, io('input { name: "image" data_type: TYPE_FP32 dims: [ 16 ] }'));
  entry(root, 'wrong_type', { '1': 'mlp' }, io('input { name: "x" data_type: TYPE_INT64 dims: [ 16 ] }'));
  entry(root, 'wrong_rank', { '1': 'mlp' }, io('input { name: "x" data_type: TYPE_FP32 dims: [ 4, 4 ] }'));
  entry(root, 'wrong_dims', { '1': 'mlp' }, io(x, 'output { name: "y" data_type: TYPE_FP32 dims: [ 9 ] }'));
  entry(root, 'reshaped', { '1': 'mlp' }, io('input { name: "x" data_type: TYPE_FP32 dims: [ 4, 4 ] reshape { shape: [ 16 ] } }'));
  entry(root, 'no_dims', { '1': 'mlp' }, io('input { name: "x" data_type: TYPE_FP32 }'));
  entry(root, 'zero_dim', { '1': 'mlp' }, io('input { name: "x" data_type: TYPE_FP32 dims: [ 0 ] }'));
  entry(root, 'bad_reshape', { '1': 'mlp' }, io('input { name: "x" data_type: TYPE_FP32 dims: [ 4, 3 ] reshape { shape: [ 16 ] } }'));
  entry(root, 'no_type', { '1': 'mlp' }, io('input { name: "x" dims: [ 16 ] }'));
  entry(root, 'preferred', { '1': 'mlp' }, `${io(x)}\ndynamic_batching { preferred_batch_size: [ 4, 16 ] }`);
  entry(root, 'negative', { '1': 'mlp' }, 'max_batch_size: -1');
  entry(root, 'fixed_batching', { '1': 'fixed_batch2' }, 'max_batch_size: 2\ninput { name: "x" data_type: TYPE_FP32 dims: [ 4, 6 ] }\noutput { name: "y" data_type: TYPE_FP32 dims: [ 5 ] }');
  const scan = await scanRepository(root);
  assert.deepEqual(scan.models.map((m) => m.name).sort(), ['fits', 'reshaped']);
  const failed = Object.fromEntries(scan.failed.map((f) => [f.name, f.reason]));
  assert.equal(failed['two_inputs'], "unable to load model 'two_inputs', configuration expects 2 inputs, model provides 1");
  assert.equal(failed['unknown_input'], "unexpected inference input 'image', allowed inputs are: x");
  assert.equal(failed['wrong_type'], "unable to load model 'wrong_type', configuration expects datatype TYPE_INT64 for input 'x', model provides TYPE_FP32");
  assert.match(failed['wrong_rank']!, /^model 'wrong_rank', tensor 'x': the model expects 2 dimensions \(shape \[-1,16\]\) but the model configuration specifies 3 dimensions \(an initial batch dimension because max_batch_size > 0/);
  assert.equal(failed['wrong_dims'], "model 'wrong_dims', tensor 'y': the model expects dims [-1,8] but the model configuration specifies dims [-1,9]");
  assert.equal(failed['no_dims'], "model input 'x' must specify 'dims' for no_dims");
  assert.equal(failed['zero_dim'], "model input 'x' dimension must be integer >= 1, or -1 to indicate a variable-size dimension for zero_dim");
  assert.equal(failed['bad_reshape'], "model input 'x' has different size for dims and reshape for bad_reshape");
  assert.equal(failed['no_type'], "model input 'x' must specify 'data_type' for no_type");
  assert.equal(failed['preferred'], 'dynamic batching preferred size must be <= max batch size for preferred');
  assert.equal(failed['negative'], "'max_batch_size' must be non-negative value for negative");
  assert.match(failed['fixed_batching']!, /^model 'fixed_batching', tensor 'x': for the model to support batching the shape should have at least 1 dimension and the first dimension must be -1; but shape expected by the model is \[2,4,6\]/);
});

test('every entry triton writes for the fixtures reads back: same inputs, outputs, batching and devices', async () => {
  const root = repository();
  const written = new Map<string, string[]>();
  for (const name of fixtureNames()) {
    for (const [suffix, devices] of [['cpu', ['cpu']], ['gpus', ['cuda:0', 'cuda:1']]] as const) {
      const entryName = `${name}_${suffix}`;
      try {
        await writeTritonEntry(fixture(name), { devices: [...devices], name: entryName, repository: root });
        written.set(entryName, [...devices]);
      } catch (error) {
        assert.equal((error as Error).name, 'InputError', `${entryName}: ${(error as Error).message}`); // a model the writer refuses, with the reason
      }
    }
  }
  assert.ok(written.size >= fixtureNames().length, `${written.size} entries written`);
  const scan = await scanRepository(root);
  assert.deepEqual(scan.failed, []);
  assert.deepEqual(scan.skipped, []);
  assert.deepEqual(scan.models.map((m) => m.name).sort(), [...written.keys()].sort());
  for (const model of scan.models) {
    const text = readFileSync(model.configFile!, 'utf8');
    const written = parseModelConfig(text, model.configFile!);
    assert.deepEqual(model.config.input, written.input, `${model.name}: inputs as written`);
    assert.deepEqual(model.config.output, written.output, `${model.name}: outputs as written`);
    assert.equal(model.config.max_batch_size, written.max_batch_size ?? 0, `${model.name}: max_batch_size`);
    assert.deepEqual(sessionOptionsOf(model.config).devices, model.name.endsWith('_cpu') ? ['cpu'] : ['cuda:0', 'cuda:1'], `${model.name}: devices`);
  }
});

test('a model rewritten by onnx-parallelize is a model too: described from its signature, on the devices it was rewritten for', { timeout: 120_000 }, async () => {
  const folder = repository();
  const rewritten = path.join(folder, 'mlp.parallel.onnx');
  const run = runCli([fixture('mlp'), '--devices', 'cpu,cpu', '-o', rewritten]);
  assert.equal(run.status, 0, run.stderr);
  const model = await modelFromFile(rewritten);
  assert.equal(model.name, 'mlp.parallel');
  assert.equal(model.config.max_batch_size, 4);
  assert.deepEqual(model.config.input, [{ name: 'x', data_type: 'TYPE_FP32', dims: [16] }]);
  assert.deepEqual(model.config.instance_group, [{ name: 'mlp.parallel_0', kind: 'KIND_CPU', count: 2 }]);
  const session = await ParallelSession.create(rewritten, sessionOptionsOf(model.config));
  try {
    assert.deepEqual(session.devices, ['cpu', 'cpu']);
    const result = await session.run({ x: new ort.Tensor('float32', new Float32Array(4 * 16).fill(1), [4, 16]) });
    assert.deepEqual(result['y']!.dims, [4, 8]);
  } finally {
    await session.release();
  }
  // Placed by the configuration, it runs where the configuration says.
  const placed = await modelFromFile(rewritten, { instance_group: [{ kind: 'KIND_CPU', count: 1 }] });
  assert.deepEqual(sessionOptionsOf(placed.config).devices, ['cpu']);
});
