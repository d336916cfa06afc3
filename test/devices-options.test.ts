import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ArgumentError, DeviceError } from '../src/errors.js';
import { sessionFromArgs } from '../src/cli/options.js';
import { parseTensorrtOptions } from '../src/cli/parse.js';
import { CUDA_OPTIONS, CUDA_REFUSED, normalizeCudaOption } from '../src/runtime/gpu/cuda-options.js';
import type { OptionKind } from '../src/runtime/gpu/option-values.js';
import { checkDeviceOptions, deviceProviders, deviceSessionOptions, missingCudaProvider, missingTensorrtProvider, tensorrtProviderStatus, type DeviceOptions } from '../src/runtime/gpu/providers.js';
import { normalizeTensorrtOption, TENSORRT_OPTIONS, TENSORRT_REFUSED } from '../src/runtime/gpu/tensorrt-options.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { fakeNvidiaSmi, MIXED } from './devices-helpers.js';
import { fixture, repoRoot } from './helpers.js';
import { sampleFor } from './provider-option-samples.js';

/** onnxruntime's parsers' option names and the C++ type each is parsed into (test/onnxruntime/provider-option-names.json). */
const parsed = JSON.parse(readFileSync(path.join(repoRoot, 'test', 'onnxruntime', 'provider-option-names.json'), 'utf8')) as Record<'cuda' | 'tensorrt', Record<string, string>>;

/** The catalogue's kind as the C++ type onnxruntime parses it into. */
function parsedAs(kind: OptionKind): string {
  if ('bytes' in kind) return 'size_t';
  if ('flag' in kind) return 'bool';
  if ('int' in kind) return 'int';
  if ('names' in kind) return `enum ${kind.names.join(' ')}`;
  return 'string';
}

const catalogues = [
  { provider: 'cuda', options: CUDA_OPTIONS, refused: CUDA_REFUSED, normalize: normalizeCudaOption },
  { provider: 'tensorrt', options: TENSORRT_OPTIONS, refused: TENSORRT_REFUSED, normalize: normalizeTensorrtOption },
] as const;

test("every option onnxruntime's CUDA and TensorRT parsers take is in the catalogue with the kind they parse; addresses and device_id are refused with the reason", () => {
  for (const { provider, options, refused } of catalogues) {
    const names = parsed[provider];
    // Nothing onnxruntime parses is missing, and nothing here is a name onnxruntime does not parse (a misspelling).
    const known = [...Object.keys(options), ...Object.keys(refused).filter((n) => n !== 'default_memory_arena_cfg')].sort();
    assert.deepEqual(known, Object.keys(names).sort(), `${provider}: the catalogue's names are onnxruntime's`);
    for (const [name, type] of Object.entries(names)) {
      if (name in options) assert.equal(parsedAs(options[name]!), type, `${provider} ${name}`);
      else assert.ok(type === 'pointer' || name === 'device_id' || name.startsWith('has_user_compute_stream') || name.endsWith('_bytestream_size'), `${provider} ${name} (${type}) is refused only for a reason`);
    }
    for (const name of Object.keys(names).filter((n) => names[n] === 'pointer')) assert.ok(name in refused, `${provider} ${name}: an address is refused`);
  }
});

test('every CUDA and TensorRT option by its onnxruntime name: accepted, normalized to what onnxruntime parses; a wrong value names the option and where', () => {
  for (const { provider, options, normalize } of catalogues) {
    for (const [name, kind] of Object.entries(options)) {
      const sample = sampleFor(kind);
      assert.equal(normalize('here', name, sample.given), sample.normalized, `${provider} ${name}=${sample.given}`);
      assert.throws(
        () => normalize("options.deviceOptions['cuda:1']", name, sample.wrong),
        (e: unknown) => e instanceof ArgumentError && e.message.startsWith(`options.deviceOptions['cuda:1']: ${name} must be `) && sample.must.test(e.message),
        `${provider} ${name}=${sample.wrong}`,
      );
    }
  }
  assert.equal(normalizeCudaOption('here', 'arena_extend_strategy', 1), 'kSameAsRequested');
  assert.equal(normalizeTensorrtOption('here', 'trt_auxiliary_streams', -1), '-1');
  assert.equal(normalizeTensorrtOption('here', 'trt_max_workspace_size', 4e9), '4000000000');
  const throwsArgument = (call: () => unknown, message: RegExp): void => assert.throws(call, (e: unknown) => e instanceof ArgumentError && message.test(e.message), String(message));
  throwsArgument(() => normalizeTensorrtOption('here', 'trt_builder_optimization_level', 6), /trt_builder_optimization_level must be a whole number from 0 to 5 \(got 6\)/);
  throwsArgument(() => normalizeTensorrtOption('here', 'trt_engine_cache_path', 7), /trt_engine_cache_path must be a non-empty string \(got 7\)/);
  throwsArgument(() => normalizeTensorrtOption('here', 'trt_fp16', 1), /^here: Unknown provider option: "trt_fp16" \(the TensorRT provider's options are trt_max_partition_iterations, /);
  throwsArgument(() => normalizeTensorrtOption('here', 'trt_onnx_bytestream', '140737488355328'), /^here: trt_onnx_bytestream cannot be set here: it is the model's bytes in memory, and it is an address in one process/);
  throwsArgument(() => normalizeTensorrtOption('here', 'device_id', 0), /device_id cannot be set here: each device sets its own/);
  // An option of the other provider is named as such, with where it goes.
  throwsArgument(() => normalizeCudaOption('--cuda-option trt_fp16_enable=1', 'trt_fp16_enable', '1'), /^--cuda-option trt_fp16_enable=1: trt_fp16_enable is not a CUDA provider option: it is the TensorRT provider's; give it as a TensorRT option/);
  throwsArgument(() => normalizeTensorrtOption('x', 'gpu_mem_limit', '1GB'), /^x: gpu_mem_limit is not a TensorRT provider option: it is the CUDA provider's, which runs beside TensorRT as its fallback/);
});

test('deviceProviders: cpu none; cuda:K its CUDA options (and TensorRT\'s where asked) with device_id K, every option given reaching it', () => {
  const everyCuda = Object.fromEntries(Object.entries(CUDA_OPTIONS).map(([name, kind]) => [name, sampleFor(kind).given]));
  const everyTensorrt = Object.fromEntries(Object.entries(TENSORRT_OPTIONS).map(([name, kind]) => [name, sampleFor(kind).given]));
  const normalized = (options: Record<string, OptionKind>) => Object.fromEntries(Object.entries(options).map(([name, kind]) => [name, sampleFor(kind).normalized]));
  const base = { executionProviders: [{ name: 'tensorrt', ...everyTensorrt }, { name: 'cuda', deviceId: 5, ...everyCuda }, 'cpu'] };
  assert.deepEqual(deviceProviders('cpu', base), {});
  assert.deepEqual(deviceProviders('cuda:3', base), { tensorrt: { ...normalized(TENSORRT_OPTIONS), device_id: '3' }, cuda: { ...normalized(CUDA_OPTIONS), device_id: '3' } });
  assert.deepEqual(deviceProviders('cuda:0'), { cuda: { device_id: '0' } });

  // The 12 GB + 6 GB machine: each GPU capped under its size; TensorRT in FP16 on the larger one only.
  const deviceOptions: DeviceOptions = { 'cuda:0': { gpu_mem_limit: '10GiB', tensorrt: { trt_fp16_enable: true } }, 'cuda:1': { gpu_mem_limit: '5GiB', arena_extend_strategy: 'kSameAsRequested' } };
  const shared = { executionProviders: [{ name: 'cuda', cudnn_conv_algo_search: 'HEURISTIC', gpu_mem_limit: '4GiB' }] };
  assert.deepEqual(deviceProviders('cuda:0', shared, deviceOptions), {
    tensorrt: { trt_fp16_enable: '1', device_id: '0' },
    cuda: { cudnn_conv_algo_search: 'HEURISTIC', gpu_mem_limit: String(10 * 2 ** 30), device_id: '0' },
  });
  assert.deepEqual(deviceProviders('cuda:1', shared, deviceOptions), { cuda: { cudnn_conv_algo_search: 'HEURISTIC', gpu_mem_limit: String(5 * 2 ** 30), arena_extend_strategy: 'kSameAsRequested', device_id: '1' } });

  // TensorRT for every device ('tensorrt' or an entry), turned off for one, or on with the shared options only.
  const everywhere = { executionProviders: ['tensorrt', { name: 'tensorrt', trt_engine_cache_enable: 1 }] };
  assert.deepEqual(deviceProviders('cuda:2', everywhere).tensorrt, { trt_engine_cache_enable: '1', device_id: '2' });
  assert.deepEqual(deviceProviders('cuda:2', everywhere, { 'cuda:2': { tensorrt: false } }), { cuda: { device_id: '2' } });
  assert.deepEqual(deviceProviders('cuda:2', everywhere, { 'cuda:2': { tensorrt: true } }).tensorrt, { trt_engine_cache_enable: '1', device_id: '2' });
  assert.deepEqual(deviceProviders('cuda:2', {}, { 'cuda:2': { tensorrt: true } }).tensorrt, { device_id: '2' });

  // onnxruntime-node's form of the same: TensorRT first, each entry with its deviceId.
  assert.deepEqual(deviceSessionOptions('cuda:0', shared, deviceOptions).executionProviders, [
    { name: 'tensorrt', deviceId: 0, trt_fp16_enable: '1' },
    { name: 'cuda', deviceId: 0, cudnn_conv_algo_search: 'HEURISTIC', gpu_mem_limit: String(10 * 2 ** 30) },
  ]);
});

test('bad provider options are ArgumentErrors naming the option and the device, raised before any device starts', async () => {
  const refused: Array<[() => unknown, RegExp]> = [
    [() => deviceProviders('cuda:1', {}, { 'cuda:1': { tensorrt: { trt_fp16_enable: 'half' } } }), /^options.deviceOptions\['cuda:1'\].tensorrt: trt_fp16_enable must be 1 or 0 \(true or false\) \(got 'half'\)$/],
    [() => deviceProviders('cuda:1', {}, { 'cuda:1': { tensorrt: 'fp16' as unknown as boolean } }), /^options.deviceOptions\['cuda:1'\].tensorrt: expected true, false, or an object of TensorRT provider options/],
    [() => deviceProviders('cuda:1', {}, { 'cuda:1': { trt_fp16_enable: true } }), /^options.deviceOptions\['cuda:1'\]: trt_fp16_enable is not a CUDA provider option: it is the TensorRT provider's/],
    [() => deviceProviders('cuda:1', {}, { 'cuda:1': 5 as unknown as DeviceOptions[string] }), /^options.deviceOptions\['cuda:1'\]: expected an object of provider options/],
    [() => deviceProviders('cuda:0', { executionProviders: [{ name: 'tensorrt', trt_dla_core: -1 } as { name: string }] }), /^options.sessionOptions.executionProviders \('tensorrt'\): trt_dla_core must be a whole number >= 0 \(got -1\)$/],
    [() => deviceProviders('cuda:0', { executionProviders: ['webgpu'] }), /^options.sessionOptions.executionProviders: 'webgpu' is not a provider onnx-parallelize runs; a device runs on the CPU \(cpu\) or on CUDA \(cuda:K\), with TensorRT first/],
    [() => checkDeviceOptions(undefined, { executionProviders: 'cuda' as unknown as [] }, undefined), /^options.sessionOptions.executionProviders: expected an array of providers/],
    [() => checkDeviceOptions(['cuda:0'], undefined, { 'cuda:0': { device_id: 1 } }), /^options.deviceOptions\['cuda:0'\]: device_id cannot be set here: each device sets its own \(cuda:K runs with device_id K\)/],
  ];
  for (const [call, message] of refused) assert.throws(call, (e: unknown) => e instanceof ArgumentError && message.test(e.message), String(message));
  await assert.rejects(
    ParallelSession.create(fixture('mlp'), { devices: ['cuda:0', 'cuda:1'], deviceOptions: { 'cuda:1': { tensorrt: { trt_max_workspace_size: 'much' } } } }),
    (e: unknown) => e instanceof ArgumentError && /^options.deviceOptions\['cuda:1'\].tensorrt: trt_max_workspace_size must be a number of bytes/.test(e.message),
  );
});

test('TensorRT asked for where its provider is missing: the same clear error as a missing CUDA provider, naming the device and the fix', { skip: missingTensorrtProvider() === undefined && 'this machine has the TensorRT provider' }, async () => {
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cuda:0'], sessionOptions: { executionProviders: [{ name: 'tensorrt', trt_fp16_enable: true } as { name: string }] } }), (error: unknown) => {
    assert.ok(error instanceof DeviceError, String(error));
    assert.match(error.message, /device cuda:0 \(replica 0\): .*the TensorRT execution provider is not installed: libonnxruntime_providers_tensorrt\.so missing in .*Install it on a machine with CUDA 12, cuDNN 9 and TensorRT 10: node node_modules\/onnxruntime-node\/script\/install --onnxruntime-node-install=cuda12; or run on CUDA alone/);
    if (missingCudaProvider() !== undefined) assert.match(error.message, /device cuda:0 \(replica 0\): the CUDA execution provider is not installed: .*; and the TensorRT execution provider is not installed/);
    return true;
  });
});

test('--cuda-option, --tensorrt and --tensorrt-option KEY=VALUE[@cuda:K] become executionProviders entries and deviceOptions, checked against the devices given', async () => {
  const saved = process.env['PATH'];
  process.env['PATH'] = fakeNvidiaSmi(MIXED); // a 12 GB and a 6 GB GPU
  try {
    const options = await sessionFromArgs({
      devices: ['cuda:0,cuda:1'],
      'cuda-option': ['cudnn_conv_algo_search=HEURISTIC', 'gpu_mem_limit=10GiB@cuda:0', 'gpu_mem_limit=5GiB@cuda:1'],
      'tensorrt-option': ['trt_fp16_enable=1@cuda:0', 'trt_engine_cache_path=/tmp/trt@cuda:0'],
    });
    assert.deepEqual(options.sessionOptions, { executionProviders: [{ name: 'cuda', cudnn_conv_algo_search: 'HEURISTIC' }] });
    assert.deepEqual(options.deviceOptions, {
      'cuda:0': { gpu_mem_limit: String(10 * 2 ** 30), tensorrt: { trt_fp16_enable: '1', trt_engine_cache_path: '/tmp/trt' } },
      'cuda:1': { gpu_mem_limit: String(5 * 2 ** 30) },
    });
    assert.deepEqual(deviceProviders('cuda:1', options.sessionOptions, options.deviceOptions), { cuda: { cudnn_conv_algo_search: 'HEURISTIC', gpu_mem_limit: String(5 * 2 ** 30), device_id: '1' } });
    const everywhere = await sessionFromArgs({ gpus: '2', tensorrt: true, 'tensorrt-option': ['trt_timing_cache_enable=true'] });
    assert.deepEqual(everywhere.sessionOptions, { executionProviders: [{ name: 'tensorrt', trt_timing_cache_enable: '1' }] });
    assert.equal(everywhere.deviceOptions, undefined);
    const refused: Array<[Parameters<typeof sessionFromArgs>[0], RegExp]> = [
      [{ devices: ['cpu'], tensorrt: true }, /--tensorrt: GPU provider options apply to cuda:K devices, and the devices given are cpu$/],
      [{ gpus: '2', 'tensorrt-option': ['trt_fp16_enable=1@cuda:3'] }, /--tensorrt-option trt_fp16_enable=1@cuda:3: cuda:3 is not one of the devices given \(cuda:0, cuda:1\)/],
      [{ gpus: '1', 'tensorrt-option': ['gpu_mem_limit=1GB'] }, /--tensorrt-option gpu_mem_limit=1GB: gpu_mem_limit is not a TensorRT provider option/],
    ];
    for (const [args, message] of refused) await assert.rejects(sessionFromArgs(args), message);
  } finally {
    process.env['PATH'] = saved;
  }
  assert.deepEqual(parseTensorrtOptions(['trt_fp16_enable=true', 'trt_dla_core=1@cuda:1']), { all: { trt_fp16_enable: '1' }, perDevice: { 'cuda:1': { trt_dla_core: '1' } } });
  assert.throws(() => parseTensorrtOptions(['trt_fp16_enable']), /: --tensorrt-option trt_fp16_enable: expected KEY=VALUE, or KEY=VALUE@cuda:K for one device \(e.g. trt_fp16_enable=1@cuda:1\)$/);
});

test('the TensorRT provider read without a GPU: missing (with the fix), or installed but its libnvinfer not found (the dynamic loader\'s words)', () => {
  const elf = path.join(repoRoot, 'test', 'elf');
  // test/elf/build.sh: a stand-in TensorRT provider that needs libnvinfer.so.10, as the real one does.
  const status = tensorrtProviderStatus(path.join(elf, 'tensorrt-without-libnvinfer'));
  assert.deepEqual([status.installed, status.loads], [true, false]);
  assert.match(status.loadProblem!, /^libnvinfer\.so\.10 is not found; put the TensorRT \(libnvinfer\), CUDA and cuDNN libraries that the provider was built against on LD_LIBRARY_PATH \(the dynamic loader: .*libnvinfer\.so\.10: cannot open shared object file/);
  assert.equal(status.options, "all, through onnxruntime's C API (UpdateTensorRTProviderOptions)");
  const missing = tensorrtProviderStatus(path.join(elf, 'binds-to-shared'));
  assert.equal(missing.installed, false);
  assert.match(missing.installProblem!, /^the TensorRT execution provider is not installed: libonnxruntime_providers_tensorrt\.so missing in .*binds-to-shared\. Install it on a machine with CUDA 12, cuDNN 9 and TensorRT 10: node node_modules\/onnxruntime-node\/script\/install --onnxruntime-node-install=cuda12; or run on CUDA alone/);
});
