import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ArgumentError, DeviceError } from '../src/errors.js';
import { parseCudaOptions } from '../src/cli/parse.js';
import { explainCudaFailure, parseCudaFailure, runOutOfMemory, sessionFailure } from '../src/runtime/gpu/cuda-errors.js';
import { normalizeCudaOption } from '../src/runtime/gpu/cuda-options.js';
import { defaultDevices, discoverGpus, gpuInventory, missingGpuMessage, numberGpus, parseDriverInformation, parseDriverVersion, parseNvidiaSmi } from '../src/runtime/gpu/gpus.js';
import { ParallelSession } from '../src/runtime/session/parallel-session.js';
import { bindingFolder, checkDeviceOptions, cudaLoadProblem, deviceSessionOptions, missingCudaProvider } from '../src/runtime/gpu/providers.js';
import { exportedSymbols, onnxruntimeVersionIn, sharedLibraryInfo } from '../src/runtime/gpu/shared-library.js';
import { cudaCallMessage, envWith, fakeDriverFolder, fakeNvidiaSmi, H200_INFORMATION, MIXED, OPEN_DRIVER_VERSION, TWO_H200 } from './devices-helpers.js';
import { fixture, repoRoot, tempDir } from './helpers.js';

const hasDriver = existsSync('/proc/driver/nvidia');

test('nvidia-smi CSV: index, name, memory in MiB, driver, PCI bus id (normalized) and UUID; N/A and commas in names', () => {
  assert.deepEqual(parseNvidiaSmi(TWO_H200), [
    { smiIndex: 0, name: 'NVIDIA H200', memoryMiB: 143771, driver: '580.65.06', pciBusId: '0000:18:00.0', uuid: 'GPU-8932f937-d72c-4106-c12f-20bd9faed9f6' },
    { smiIndex: 1, name: 'NVIDIA H200', memoryMiB: 143771, driver: '580.65.06', pciBusId: '0000:2a:00.0', uuid: 'GPU-1f3b5a6c-0b1d-4e8a-9c47-6d2e1f0a9b33' },
  ]);
  const odd = parseNvidiaSmi('0, Tesla K80, Rev, B, [N/A], 470.57.02, 00000000:00:1E.0, GPU-aa\r\n\r\nNo devices were found\n');
  assert.deepEqual(odd, [{ smiIndex: 0, name: 'Tesla K80, Rev, B', driver: '470.57.02', pciBusId: '0000:00:1e.0', uuid: 'GPU-aa' }]);
});

test("the driver's files: model, UUID and bus of a GPU; the driver version of proprietary and open kernel modules", () => {
  assert.deepEqual(parseDriverInformation(H200_INFORMATION), { name: 'NVIDIA H200', uuid: 'GPU-8932f937-d72c-4106-c12f-20bd9faed9f6', pciBusId: '0000:18:00.0' });
  assert.equal(parseDriverVersion(OPEN_DRIVER_VERSION), '580.65.06');
  assert.equal(parseDriverVersion('NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n'), '535.129.03');
  assert.equal(parseDriverVersion(''), undefined);
});

test('CUDA numbering: CUDA_VISIBLE_DEVICES as indices (1,0), a UUID or its prefix, empty, -1, a bad entry mid-list, a repeat', () => {
  const raw = parseNvidiaSmi(TWO_H200);
  const names = (env: NodeJS.ProcessEnv): string[] => numberGpus(raw, env, 'nvidia-smi').gpus.map((g) => `cuda:${g.index}=${g.pciBusId}`);
  assert.deepEqual(names({}), ['cuda:0=0000:18:00.0', 'cuda:1=0000:2a:00.0']);
  assert.deepEqual(names({ CUDA_VISIBLE_DEVICES: '1,0' }), ['cuda:0=0000:2a:00.0', 'cuda:1=0000:18:00.0']);
  assert.deepEqual(names({ CUDA_VISIBLE_DEVICES: 'GPU-1f3b5a6c-0b1d-4e8a-9c47-6d2e1f0a9b33' }), ['cuda:0=0000:2a:00.0']);
  assert.deepEqual(names({ CUDA_VISIBLE_DEVICES: 'GPU-8932' }), ['cuda:0=0000:18:00.0']);
  assert.deepEqual(names({ CUDA_VISIBLE_DEVICES: ' 1 ' }), ['cuda:0=0000:2a:00.0']);
  const empty = numberGpus(raw, { CUDA_VISIBLE_DEVICES: '' }, 'nvidia-smi');
  assert.deepEqual([empty.gpus.length, empty.hidden, empty.counted], [0, 2, true]);
  assert.match(empty.notes.join('\n'), /CUDA_VISIBLE_DEVICES= hides every GPU from CUDA/);
  assert.equal(numberGpus(raw, { CUDA_VISIBLE_DEVICES: '-1' }, 'nvidia-smi').gpus.length, 0);
  const cut = numberGpus(raw, { CUDA_VISIBLE_DEVICES: '1,7,0' }, 'nvidia-smi');
  assert.deepEqual(cut.gpus.map((g) => g.pciBusId), ['0000:2a:00.0']);
  assert.match(cut.notes[0]!, /'7' names no GPU of this machine, so CUDA ignores it and every entry after it/);
  const repeated = numberGpus(raw, { CUDA_VISIBLE_DEVICES: '0,0' }, 'nvidia-smi');
  assert.equal(repeated.gpus.length, 1);
  assert.match(repeated.notes[0]!, /'0' repeats a GPU/);
  assert.equal(numberGpus(raw, { CUDA_VISIBLE_DEVICES: 'MIG-GPU-8932f937/1/0' }, 'nvidia-smi').gpus.length, 0);
});

test("CUDA_DEVICE_ORDER: PCI bus order is certain for one model or PCI_BUS_ID; with two models the default order is flagged", () => {
  const mixed = parseNvidiaSmi(MIXED);
  const fastest = numberGpus(mixed, {}, 'nvidia-smi');
  assert.equal(fastest.order, 'FASTEST_FIRST');
  assert.equal(fastest.orderCertain, false);
  assert.match(fastest.notes[0]!, /GPUs differ \(NVIDIA GeForce RTX 3060, NVIDIA GeForce GTX 1660 Ti\): CUDA numbers the GPU it guesses fastest first.*set CUDA_DEVICE_ORDER=PCI_BUS_ID/);
  const pci = numberGpus(mixed, { CUDA_DEVICE_ORDER: 'PCI_BUS_ID' }, 'nvidia-smi');
  assert.deepEqual([pci.order, pci.orderCertain, pci.notes], ['PCI_BUS_ID', true, []]);
  assert.deepEqual(pci.gpus.map((g) => [g.index, g.name, g.memoryMiB]), [[0, 'NVIDIA GeForce RTX 3060', 12288], [1, 'NVIDIA GeForce GTX 1660 Ti', 6144]]);
  // nvidia-smi's lines out of bus order are put in bus order, as CUDA's PCI_BUS_ID does.
  const swapped = MIXED.split('\n').reverse().join('\n');
  assert.deepEqual(numberGpus(parseNvidiaSmi(swapped), { CUDA_DEVICE_ORDER: 'PCI_BUS_ID' }, 'nvidia-smi').gpus.map((g) => g.pciBusId), ['0000:01:00.0', '0000:02:00.0']);
});

test('discovery runs a stand-in nvidia-smi found on PATH, falls back to a prepared driver folder, and says why when neither is there', async () => {
  const smi = await discoverGpus({ env: envWith(fakeNvidiaSmi(TWO_H200), { CUDA_VISIBLE_DEVICES: '1' }), procRoot: tempDir() });
  assert.deepEqual([smi.source, smi.counted, smi.gpus.length, smi.hidden, smi.driver], ['nvidia-smi', true, 1, 1, '580.65.06']);
  assert.equal(smi.gpus[0]!.uuid, 'GPU-1f3b5a6c-0b1d-4e8a-9c47-6d2e1f0a9b33');

  const driver = await discoverGpus({ env: envWith(tempDir()), procRoot: fakeDriverFolder() });
  assert.deepEqual([driver.source, driver.counted, driver.driver], ['driver', true, '580.65.06']);
  assert.deepEqual(driver.gpus, [{ index: 0, name: 'NVIDIA H200', driver: '580.65.06', uuid: 'GPU-8932f937-d72c-4106-c12f-20bd9faed9f6', pciBusId: '0000:18:00.0', smiIndex: 0 }]);
  assert.match(driver.notes[0]!, /nvidia-smi is not on PATH: read the driver's files instead \(they give no memory size\)/);

  const none = await discoverGpus({ env: envWith(tempDir()), procRoot: tempDir() });
  assert.deepEqual([none.source, none.counted, none.gpus], ['none', false, []]);
  assert.match(none.notes[0]!, /^nvidia-smi is not on PATH, and .*driver\/nvidia is missing, so no NVIDIA driver is loaded$/);

  const broken = fakeNvidiaSmi('');
  writeFileSync(path.join(broken, 'nvidia-smi'), `#!${process.execPath}\nconsole.log("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.");\nprocess.exit(9);\n`);
  const failed = await discoverGpus({ env: envWith(broken), procRoot: tempDir() });
  assert.equal(failed.counted, false);
  assert.match(failed.notes[0]!, /^nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/);
});

test('a missing device is named with the GPUs there are; no refusal when they cannot be counted', () => {
  const two = numberGpus(parseNvidiaSmi(TWO_H200), {}, 'nvidia-smi');
  assert.equal(missingGpuMessage('devices', ['cuda:0', 'cuda:7'], two), 'devices: cuda:7 does not exist; this machine has 2 GPUs: cuda:0 (NVIDIA H200, 141 GB), cuda:1 (NVIDIA H200, 141 GB)');
  const one = numberGpus(parseNvidiaSmi(TWO_H200), { CUDA_VISIBLE_DEVICES: '0' }, 'nvidia-smi');
  assert.equal(missingGpuMessage('--gpus 3', ['cuda:0', 'cuda:1', 'cuda:2'], one), '--gpus 3: cuda:1 and cuda:2 do not exist; this machine has 1 GPU: cuda:0 (NVIDIA H200, 141 GB) (CUDA_VISIBLE_DEVICES=0 hides 1 more)');
  assert.equal(missingGpuMessage('devices', ['cuda:0', 'cuda:1', 'cpu'], two), undefined);
  assert.equal(missingGpuMessage('devices', ['cuda:5'], numberGpus([], {}, 'none')), undefined);
  assert.match(missingGpuMessage('devices', ['cuda:0'], numberGpus([], {}, 'driver'))!, /cuda:0 does not exist; this machine has no GPU that CUDA can see; use cpu/);
});

test('default devices: every GPU found, else the CPU with the reason (no GPU, or GPUs but no CUDA provider)', () => {
  const two = numberGpus(parseNvidiaSmi(TWO_H200), {}, 'nvidia-smi');
  assert.deepEqual(defaultDevices(two, undefined), { devices: ['cuda:0', 'cuda:1'], note: 'no devices given: using every GPU found, cuda:0, cuda:1' });
  const noProvider = defaultDevices(two, 'the CUDA execution provider is not installed');
  assert.deepEqual(noProvider.devices, ['cpu']);
  assert.match(noProvider.note, /using the CPU: 2 GPUs: .* found, but the CUDA execution provider is not installed/);
  const none = defaultDevices(numberGpus([], {}, 'none'), undefined);
  assert.deepEqual(none.devices, ['cpu']);
  assert.match(none.note, /using the CPU: no GPU found/);
});

test('ParallelSession: a cuda:K missing from a stand-in two-GPU listing is an ArgumentError before any device starts', async () => {
  const saved = process.env['PATH'];
  process.env['PATH'] = `${fakeNvidiaSmi(TWO_H200)}${path.delimiter}${saved}`;
  try {
    await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cuda:0', 'cuda:7'] }), (error: unknown) => {
      assert.ok(error instanceof ArgumentError, String(error));
      assert.equal(error.message, 'options.devices: cuda:7 does not exist; this machine has 2 GPUs: cuda:0 (NVIDIA H200, 141 GB), cuda:1 (NVIDIA H200, 141 GB)');
      return true;
    });
    // The devices that exist go on to start (and fail here for want of the CUDA provider, not as missing).
    if (missingCudaProvider() !== undefined) {
      await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cuda:1'] }), (error: unknown) => error instanceof DeviceError && /CUDA execution provider is not installed/.test(error.message));
      // No devices: every GPU, but without a provider that can run on them, the CPU, and the session says why.
      const session = await ParallelSession.create(fixture('mlp'));
      try {
        assert.deepEqual(session.devices, ['cpu']);
        assert.match(session.deviceNote!, /^no devices given: using the CPU: 2 GPUs: cuda:0 \(NVIDIA H200, 141 GB\), cuda:1 \(NVIDIA H200, 141 GB\) found, but the CUDA execution provider is not installed/);
      } finally {
        await session.release();
      }
    }
  } finally {
    process.env['PATH'] = saved;
  }
});

test('ParallelSession with no devices on a plain model: every GPU found, else the CPU; a rewritten model keeps its tags', { skip: hasDriver && 'this machine has an NVIDIA driver' }, async () => {
  const saved = process.env['PATH'];
  process.env['PATH'] = tempDir(); // no nvidia-smi: with no driver either, no GPU is found
  try {
    const session = await ParallelSession.create(fixture('mlp'));
    try {
      assert.deepEqual(session.devices, ['cpu']);
      assert.match(session.deviceNote!, /^no devices given: using the CPU: no GPU found \(nvidia-smi is not on PATH/);
      const y = await session.run({ x: new (await import('onnxruntime-node')).Tensor('float32', new Float32Array(3 * 16).fill(0.5), [3, 16]) });
      assert.deepEqual(y['y']!.dims, [3, 8]);
    } finally {
      await session.release();
    }
  } finally {
    process.env['PATH'] = saved;
  }
});

test('CUDA provider options: executionProviders cuda options reach every CUDA device with its own deviceId; deviceOptions override per device', () => {
  const base = { graphOptimizationLevel: 'all' as const, executionProviders: [{ name: 'cuda', deviceId: 3, gpu_mem_limit: 8e9, cudnn_conv_algo_search: 'heuristic' } as { name: string }, 'cpu'] };
  const deviceOptions = { 'cuda:1': { gpu_mem_limit: '5GB', use_tf32: false } };
  assert.deepEqual(deviceSessionOptions('cuda:0', base, deviceOptions), {
    graphOptimizationLevel: 'all',
    executionProviders: [{ name: 'cuda', deviceId: 0, gpu_mem_limit: '8000000000', cudnn_conv_algo_search: 'HEURISTIC' }],
  });
  assert.deepEqual(deviceSessionOptions('cuda:1', base, deviceOptions).executionProviders, [{ name: 'cuda', deviceId: 1, gpu_mem_limit: '5000000000', cudnn_conv_algo_search: 'HEURISTIC', use_tf32: '0' }]);
  assert.deepEqual(deviceSessionOptions('cpu', base, deviceOptions), { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
  assert.deepEqual(deviceSessionOptions('cuda:2').executionProviders, [{ name: 'cuda', deviceId: 2 }]);
});

test('CUDA option values as onnxruntime parses them, and errors quoting the option', () => {
  const where = 'here';
  assert.equal(normalizeCudaOption(where, 'gpu_mem_limit', '8GiB'), String(8 * 2 ** 30));
  assert.equal(normalizeCudaOption(where, 'gpu_mem_limit', '1.5GB'), '1500000000');
  assert.equal(normalizeCudaOption(where, 'gpu_mem_limit', '18446744073709551615'), '18446744073709551615');
  assert.equal(normalizeCudaOption(where, 'arena_extend_strategy', 1), 'kSameAsRequested');
  assert.equal(normalizeCudaOption(where, 'do_copy_in_default_stream', 'TRUE'), '1');
  assert.equal(normalizeCudaOption(where, 'sdpa_kernel', '2'), '2');
  const refused: Array<[string, unknown, RegExp]> = [
    ['gpu_mem_limt', 1, /^here: Unknown provider option: "gpu_mem_limt" \(the CUDA provider's options are gpu_mem_limit, /],
    ['gpu_mem_limit', '-1', /^here: gpu_mem_limit must be a number of bytes, such as 5000000000, 5e9 or 8GiB \(got '-1'\)/],
    ['gpu_mem_limit', '18446744073709551616', /must be a number of bytes/],
    ['arena_extend_strategy', 'grow', /arena_extend_strategy must be one of kNextPowerOfTwo, kSameAsRequested \(got 'grow'\)/],
    ['cudnn_conv_algo_search', 3, /must be one of EXHAUSTIVE, HEURISTIC, DEFAULT \(got 3\)/],
    ['use_tf32', 'yes', /use_tf32 must be 1 or 0 \(true or false\)/],
    ['device_id', 1, /device_id cannot be set here: each device sets its own/],
    ['user_compute_stream', '0x1', /^here: user_compute_stream cannot be set here: it is a CUDA stream, and it is an address in one process/],
  ];
  for (const [name, value, message] of refused) assert.throws(() => normalizeCudaOption(where, name, value), (e: unknown) => e instanceof ArgumentError && message.test(e.message), `${name}=${String(value)}`);
});

test('options.deviceOptions and executionProviders cuda options are checked before anything starts, naming the option and device', async () => {
  assert.throws(() => checkDeviceOptions(['cuda:0'], undefined, { 'cuda:1': { gpu_mem_limit: 1 } }), /options.deviceOptions: 'cuda:1' is not one of the session's devices \(cuda:0\)/);
  assert.throws(() => checkDeviceOptions(undefined, undefined, { cpu: {} }), /'cpu' is not a CUDA device/);
  assert.throws(() => checkDeviceOptions(undefined, { executionProviders: [{ name: 'cuda', gpuMemLimit: 1 } as { name: string }] }, undefined), /options.sessionOptions.executionProviders \('cuda'\): Unknown provider option: "gpuMemLimit"/);
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cuda:0'], deviceOptions: { 'cuda:0': { gpu_mem_limit: 'lots' } } }), (e: unknown) => e instanceof ArgumentError && /^options.deviceOptions\['cuda:0'\]: gpu_mem_limit must be a number of bytes, such as 5000000000, 5e9 or 8GiB \(got 'lots'\)$/.test(e.message));
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cpu'], deviceOptions: { 'cuda:0': { gpu_mem_limit: 1 } } }), /options.deviceOptions: 'cuda:0' is not one of the session's devices \(cpu\)/);
});

test('every CUDA option reaches onnxruntime: without the provider, a device given CUDA options fails as a missing provider does, naming the device', { skip: missingCudaProvider() === undefined && 'this machine has the CUDA provider' }, async () => {
  await assert.rejects(ParallelSession.create(fixture('mlp'), { devices: ['cuda:0', 'cuda:1'], deviceOptions: { 'cuda:1': { gpu_mem_limit: '5GB', enable_cuda_graph: true } } }), (error: unknown) => {
    assert.ok(error instanceof DeviceError, String(error));
    assert.match(error.message, /device cuda:1 \(replica 1\): the CUDA execution provider is not installed: libonnxruntime_providers_shared\.so and libonnxruntime_providers_cuda\.so missing in .*--onnxruntime-node-install=cuda12/);
    assert.doesNotMatch(error.message, /gpu_mem_limit|passes only|silently ignored/);
    return true;
  });
});

test('the onnxruntime version and the libraries a shared library needs, read from onnxruntime-node\'s own ELF files', () => {
  const folder = bindingFolder();
  const ort = sharedLibraryInfo(path.join(folder, 'libonnxruntime.so.1'));
  const version = JSON.parse(readFileSync(path.join(folder, '../../../../package.json'), 'utf8')).version as string;
  assert.equal(ort.onnxruntimeVersion, version);
  assert.ok(ort.needed.includes('libc.so.6'));
  assert.ok(sharedLibraryInfo(path.join(folder, 'onnxruntime_binding.node')).needed.includes('libonnxruntime.so.1'));
  assert.equal(onnxruntimeVersionIn(Buffer.from('\x001.29.0\x00\x001.3.9\x00CUDA 12.4.1\x00')), '1.29.0');
  assert.equal(onnxruntimeVersionIn(Buffer.from('\x001.29.0\x00\x001.30.0\x00')), undefined);
  assert.throws(() => sharedLibraryInfo(fixture('mlp')), /not a 64-bit little-endian ELF file/);
});

test("a provider that binds a symbol of onnxruntime's shared provider library loads; one that needs a symbol nothing defines does not", () => {
  // test/elf/build.sh: stand-ins linked with -z now, as the real CUDA provider is. Loaded alone, the real one stops at
  // "undefined symbol: Provider_GetHost", which onnxruntime's libonnxruntime_providers_shared.so defines.
  const elf = path.join(repoRoot, 'test', 'elf');
  assert.deepEqual([...exportedSymbols(path.join(elf, 'binds-to-shared', 'libonnxruntime_providers_shared.so'))], ['Provider_GetHost']);
  assert.equal(cudaLoadProblem(path.join(elf, 'binds-to-shared')), undefined);
  assert.match(cudaLoadProblem(path.join(elf, 'unknown-symbol')) ?? '', /undefined symbol: OrtProviderApi_NotInThisRuntime \(the provider does not match this onnxruntime-node\)$/);
  assert.ok(exportedSymbols(path.join(bindingFolder(), 'libonnxruntime.so.1')).has('OrtGetApiBase'));
});

test('CUDA failures from onnxruntime become one line: device, cause, fix; onnxruntime\'s text stays as the cause', async () => {
  const saved = process.env['PATH'];
  process.env['PATH'] = fakeNvidiaSmi(TWO_H200);
  try {
    await gpuInventory(); // the GPUs a rewritten "invalid device ordinal" names
  } finally {
    process.env['PATH'] = saved;
  }
  const ordinal = cudaCallMessage('CUDA', 101, 'invalid device ordinal');
  assert.deepEqual(parseCudaFailure(ordinal), { library: 'CUDA', code: 101, text: 'invalid device ordinal' });
  const error = sessionFailure('cuda:7', 'device cuda:7 (replica 1)', ordinal);
  assert.equal(error.message, 'device cuda:7 (replica 1): CUDA error 101 (invalid device ordinal): cuda:7 does not exist; this machine has 2 GPUs: cuda:0 (NVIDIA H200, 141 GB), cuda:1 (NVIDIA H200, 141 GB)');
  assert.equal((error.cause as Error).message, ordinal);
  const cases: Array<[string, RegExp]> = [
    [cudaCallMessage('CUDA', 100, 'no CUDA-capable device is detected'), /^CUDA error 100 \(no CUDA-capable device is detected\): CUDA sees no GPU in this process; check that nvidia-smi lists one, that CUDA_VISIBLE_DEVICES does not hide them all/],
    [cudaCallMessage('CUDA', 35, 'CUDA driver version is insufficient for CUDA runtime version'), /^CUDA error 35 \(CUDA driver version is insufficient for CUDA runtime version\): the NVIDIA driver \(580\.65\.06\) is older than the CUDA the provider was built for; update the driver/],
    [cudaCallMessage('CUDA', 2, 'out of memory', 'cudaMalloc(&p, size)'), /^CUDA error 2 \(out of memory\): cuda:1 has not enough free memory for this session; free memory on it \(nvidia-smi lists the processes using it\)/],
    [cudaCallMessage('CUDA', 46, 'CUDA-capable device(s) is/are busy or unavailable'), /cuda:1 is taken: its compute mode is exclusive.*nvidia-smi -q -d COMPUTE/],
    [cudaCallMessage('CUDA', 209, 'no kernel image is available for execution on the device'), /no code for cuda:1's architecture; use a provider built for it/],
    [cudaCallMessage('CUDA', 34, 'CUDA driver is a stub library'), /stub .*take that folder off LD_LIBRARY_PATH/],
    [cudaCallMessage('CUDA', 803, 'system has unsupported display driver / cuda driver combination'), /libcuda does not match its kernel module/],
    [cudaCallMessage('CUDA', 999, 'unknown error'), /unknown error, often after the driver lost the GPU/],
    [cudaCallMessage('CUBLAS', 3, 'CUBLAS_STATUS_ALLOC_FAILED', 'cublasCreate(&cublas_handle_)'), /^CUBLAS error 3 \(CUBLAS_STATUS_ALLOC_FAILED\): cuda:1 has not enough free memory/],
    [cudaCallMessage('CUBLAS', 1, 'CUBLAS_STATUS_NOT_INITIALIZED', 'cublasCreate(&cublas_handle_)'), /^CUBLAS error 1 \(CUBLAS_STATUS_NOT_INITIALIZED\): CUBLAS could not start on cuda:1, usually for lack of free GPU memory/],
    [cudaCallMessage('CUDNN', 4002, 'CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED', 'cudnnCreate(&cudnn_handle_)'), /^CUDNN error 4002 .*: cuda:1 has not enough free memory/],
    [
      "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1539 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: libcudnn_adv.so.9: cannot open shared object file: No such file or directory",
      /^the CUDA provider cannot load: libcudnn_adv\.so\.9 is not found; put the CUDA and cuDNN libraries it was built for on LD_LIBRARY_PATH \(the dynamic loader: libcudnn_adv\.so\.9: cannot open shared object file: No such file or directory\)$/,
    ],
    ['Invalid device ID: 7, must be between 0 (inclusive) and 2 (exclusive).', /^cuda:1 does not exist; this machine has 2 GPUs/],
    ['[ONNXRuntimeError] : 1 : FAIL : provider_options_utils.h:146 Parse Unknown provider option: "gpu_mem_limt".', /^onnxruntime's CUDA provider has no option "gpu_mem_limt" \(Unknown provider option\); leave it out$/],
    ['[ONNXRuntimeError] : 1 : FAIL : provider_options_utils.h:146 Parse Unknown provider option: "trt_load_user_initializer".', /^onnxruntime's TensorRT provider has no option "trt_load_user_initializer" \(Unknown provider option\); leave it out$/],
    [
      'onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_tensorrt.so with error: libnvinfer.so.10: cannot open shared object file: No such file or directory',
      /^the TensorRT provider cannot load: libnvinfer\.so\.10 is not found; put the TensorRT \(libnvinfer\), CUDA and cuDNN libraries it was built for on LD_LIBRARY_PATH \(the dynamic loader: libnvinfer\.so\.10: cannot open/,
    ],
  ];
  for (const [message, expected] of cases) assert.match(explainCudaFailure('cuda:1', message) ?? '(not explained)', expected, message);
  if (missingCudaProvider() !== undefined) {
    // What onnxruntime-node itself says when the provider cannot be loaded (seen with a provider whose CUDA libraries are absent).
    assert.match(explainCudaFailure('cuda:0', 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library')!, /^the CUDA provider cannot load: it is installed but could not be loaded; check that the CUDA and cuDNN libraries are on LD_LIBRARY_PATH$/);
  }
  const other = sessionFailure('cpu', 'device cpu (replica 0)', 'Load model from x failed: Protobuf parsing failed.');
  assert.equal(other.message, 'device cpu (replica 0): cannot create its session: Load model from x failed: Protobuf parsing failed.');
  assert.equal(other.cause, undefined);
});

test("a run out of GPU memory names the device, the buffer, its gpu_mem_limit and the fix; other failures are left alone", () => {
  const arena = '[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running MatMul node. Name:\'mm\' Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:376 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*, bool, onnxruntime::WaitNotificationFn) Failed to allocate memory for requested buffer of size 268435456';
  const limited = runOutOfMemory('cuda:1', 'device cuda:1 (replica 1)', arena, '1073741824');
  assert.equal(limited?.message, "device cuda:1 (replica 1): out of GPU memory for a buffer of 256 MiB: its gpu_mem_limit is 1073741824 bytes (1024 MiB); raise gpu_mem_limit for cuda:1 (deviceOptions['cuda:1'].gpu_mem_limit, or --cuda-option gpu_mem_limit=BYTES@cuda:1) or send fewer rows per run (maxBatchPerDevice)");
  assert.equal((limited?.cause as Error).message, arena);
  const cuda = cudaCallMessage('CUDA', 2, 'out of memory', 'cudaMalloc(&p, size)');
  assert.match(runOutOfMemory('cuda:0', 'device cuda:0 (replica 0)', cuda, undefined)?.message ?? '', /^device cuda:0 \(replica 0\): out of GPU memory: send fewer rows per run \(maxBatchPerDevice\), put fewer replicas on cuda:0, or free memory on it/);
  assert.equal(runOutOfMemory('cuda:0', 'device cuda:0 (replica 0)', 'Non-zero status code returned while running Add node. Name:\'add\' Status Message: shapes do not broadcast', '1000'), undefined);
});

test('--cuda-option KEY=VALUE[@cuda:K]: for every CUDA device or one, normalized, with errors quoting the entry', () => {
  assert.deepEqual(parseCudaOptions(['gpu_mem_limit=8GiB', 'gpu_mem_limit=5e9@cuda:1', 'cudnn_conv_algo_search=heuristic@cuda:1', 'use_tf32=false']), {
    all: { gpu_mem_limit: String(8 * 2 ** 30), use_tf32: '0' },
    perDevice: { 'cuda:1': { gpu_mem_limit: '5000000000', cudnn_conv_algo_search: 'HEURISTIC' } },
  });
  assert.deepEqual(parseCudaOptions(undefined), { all: {}, perDevice: {} });
  const refused: Array<[string[], RegExp]> = [
    [['gpu_mem_limit'], /--cuda-option gpu_mem_limit: expected KEY=VALUE, or KEY=VALUE@cuda:K for one device/],
    [['gpu_mem_limit='], /expected KEY=VALUE/],
    [['gpu_mem_limit=1@cpu'], /--cuda-option gpu_mem_limit=1@cpu: 'cpu' is not a CUDA device; give @cuda:K, or no @ for every CUDA device$/],
    [['gpu_mem_limit=1@cuda:1', 'gpu_mem_limit=2@cuda:1'], /--cuda-option gpu_mem_limit=2@cuda:1: gpu_mem_limit is given twice for cuda:1$/],
    [['gpu_mem=1'], /--cuda-option gpu_mem=1: Unknown provider option: "gpu_mem"/],
    [['arena_extend_strategy=big'], /--cuda-option arena_extend_strategy=big: arena_extend_strategy must be one of kNextPowerOfTwo, kSameAsRequested \(got 'big'\)$/],
  ];
  for (const [values, message] of refused) assert.throws(() => parseCudaOptions(values), message, values.join(' '));
  // A later entry for one device overrides the shared one there only (what deviceSessionOptions does with them).
  const cli = parseCudaOptions(['gpu_mem_limit=1GB', 'gpu_mem_limit=2GB@cuda:1']);
  const base = { executionProviders: [{ name: 'cuda', ...cli.all }] };
  assert.deepEqual(['cuda:0', 'cuda:1'].map((d) => (deviceSessionOptions(d, base, cli.perDevice).executionProviders![0] as unknown as Record<string, unknown>)['gpu_mem_limit']), ['1000000000', '2000000000']);
});
