import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dump } from 'npyjs';
import { missingCudaProvider } from '../src/runtime/gpu/providers.js';
import { envWith, fakeNvidiaSmi, MIXED, TWO_H200 } from './devices-helpers.js';
import { cliPath, fixture, repoRoot, tempDir, type CliResult } from './helpers.js';

/** The CLI in a child process, as a user runs it, with PATH holding only `pathFolder` (and a stand-in nvidia-smi when it has one). */
function cli(args: string[], pathFolder: string, extra: Record<string, string> = {}): CliResult {
  const result = spawnSync(process.execPath, [cliPath, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, env: envWith(pathFolder, extra) });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const hasDriver = existsSync('/proc/driver/nvidia');
const noProvider = missingCudaProvider() !== undefined;
const bare = { skip: (hasDriver && 'this machine has an NVIDIA driver') || (!noProvider && 'this machine has the CUDA provider') };

test('devices on a machine without GPUs or CUDA provider: exit 0, a clear report; --json: no GPU and the provider\'s problem', bare, () => {
  const text = cli(['devices'], tempDir());
  assert.equal(text.status, 0, text.stderr);
  assert.equal(text.stderr, '');
  assert.match(text.stdout, /^GPUs: none found: nvidia-smi is not on PATH, and \/proc\/driver\/nvidia is missing, so no NVIDIA driver is loaded$/m);
  assert.match(text.stdout, /^CUDA provider of onnxruntime-node \d+\.\d+\.\d+, onnxruntime \d+\.\d+\.\d+, in .*napi-v6\/linux\/x64:$/m);
  assert.match(text.stdout, /^ {2}installed: no: libonnxruntime_providers_shared\.so and libonnxruntime_providers_cuda\.so missing in .*--onnxruntime-node-install=cuda12$/m);
  assert.match(text.stdout, /^ {2}CUDA options \(gpu_mem_limit, \.\.\.\): not passed: onnxruntime-node \d+\.\d+\.\d+ hands its CUDA provider only the device id$/m);
  assert.match(text.stdout, /^CPU: .+, \d+ cores \(\d+ available to this process\)$/m);

  const json = cli(['devices', '--json'], tempDir());
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(report.gpus, []);
  assert.deepEqual([report.gpuDiscovery.source, report.gpuDiscovery.counted], ['none', false]);
  assert.equal(report.cudaProvider.installed, false);
  assert.match(report.cudaProvider.problem, /^the CUDA execution provider is not installed: .* missing in .*\. Install it on a machine with CUDA 12 and cuDNN 9: /);
  assert.equal(report.cudaProvider.cudaOptionsReachOnnxruntime, false);
  assert.ok(report.cpu.cores >= 1);
  assert.equal(report.check, null);
});

test('devices --gpus 2 where nothing can run on them: exit 1, each problem named with its fix', bare, () => {
  const result = cli(['devices', '--gpus', '2'], tempDir());
  assert.equal(result.status, 1, result.stderr);
  const problems = result.stdout.slice(result.stdout.indexOf('check --gpus 2 (cuda:0, cuda:1): not usable:')).split('\n').filter((l) => l.startsWith('  '));
  assert.equal(problems.length, 2, result.stdout);
  assert.match(problems[0]!, /^ {2}cuda:0, cuda:1: no NVIDIA GPU found \(nvidia-smi is not on PATH.*\); install the NVIDIA driver \(nvidia-smi must work\); in a container, run it with the NVIDIA container runtime \(docker run --gpus all\)$/);
  assert.match(problems[1]!, /^ {2}cuda:0, cuda:1: the CUDA execution provider is not installed: .*Install it on a machine with CUDA 12 and cuDNN 9: node node_modules\/onnxruntime-node\/script\/install --onnxruntime-node-install=cuda12$/);
  const json = JSON.parse(cli(['devices', '--gpus', 'all', '--json'], tempDir()).stdout);
  assert.deepEqual([json.check.asked, json.check.ok, json.check.devices], ['--gpus all', false, []]);
  assert.match(json.check.problems[0].problem, /^no NVIDIA GPU found/);
});

test('devices with a stand-in nvidia-smi: GPUs as CUDA numbers them (CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER), and the check names a GPU that is not there', () => {
  const two = fakeNvidiaSmi(TWO_H200);
  const listed = cli(['devices'], two);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^GPUs: 2, from nvidia-smi, driver 580\.65\.06, numbered as CUDA numbers them in this process:$/m);
  assert.match(listed.stdout, /^ {2}cuda:0 {2}NVIDIA H200, 141 GB \(143771 MiB\), PCI 0000:18:00\.0, GPU-8932f937-d72c-4106-c12f-20bd9faed9f6, nvidia-smi index 0$/m);
  assert.match(listed.stdout, /^ {2}numbering: CUDA_DEVICE_ORDER unset \(FASTEST_FIRST\): the same as nvidia-smi's PCI bus order for GPUs of one model; CUDA_VISIBLE_DEVICES unset$/m);

  const swapped = JSON.parse(cli(['devices', '--json'], two, { CUDA_VISIBLE_DEVICES: '1,0' }).stdout);
  assert.deepEqual(swapped.gpus.map((g: { device: string; smiIndex: number }) => [g.device, g.smiIndex]), [['cuda:0', 1], ['cuda:1', 0]]);
  const byUuid = JSON.parse(cli(['devices', '--json'], two, { CUDA_VISIBLE_DEVICES: 'GPU-1f3b5a6c-0b1d-4e8a-9c47-6d2e1f0a9b33' }).stdout);
  assert.deepEqual([byUuid.gpus.length, byUuid.gpus[0].pciBusId, byUuid.gpuDiscovery.hidden], [1, '0000:2a:00.0', 1]);
  const hidden = cli(['devices'], two, { CUDA_VISIBLE_DEVICES: '' });
  assert.match(hidden.stdout, /^GPUs: none that CUDA can see \(read from nvidia-smi, driver 580\.65\.06\)$/m);
  assert.match(hidden.stdout, /note: CUDA_VISIBLE_DEVICES= hides every GPU from CUDA/);

  const mixed = cli(['devices'], fakeNvidiaSmi(MIXED));
  assert.match(mixed.stdout, /note: CUDA_DEVICE_ORDER is not PCI_BUS_ID and the GPUs differ \(NVIDIA GeForce RTX 3060, NVIDIA GeForce GTX 1660 Ti\)/);
  assert.match(mixed.stdout, /cuda:1 {2}NVIDIA GeForce GTX 1660 Ti, 6 GB \(6144 MiB\)/);
  assert.doesNotMatch(cli(['devices'], fakeNvidiaSmi(MIXED), { CUDA_DEVICE_ORDER: 'PCI_BUS_ID' }).stdout, /note:/);

  const check = cli(['devices', '--devices', 'cuda:0,cuda:7', '--json'], two, { CUDA_VISIBLE_DEVICES: '0' });
  assert.equal(check.status, 1);
  const problems = JSON.parse(check.stdout).check.problems.map((p: { problem: string }) => p.problem);
  assert.ok(problems.includes('--devices cuda:0,cuda:7: cuda:7 does not exist; this machine has 1 GPU: cuda:0 (NVIDIA H200, 141 GB) (CUDA_VISIBLE_DEVICES=0 hides 1 more)'), problems.join('\n'));
  const cpuOnly = cli(['devices', '--devices', 'cpu'], two);
  assert.equal(cpuOnly.status, 0, cpuOnly.stdout);
  assert.match(cpuOnly.stdout, /^check --devices cpu \(cpu\): usable$/m);
});

test('devices: bad usage exits 2 with one line', () => {
  for (const [args, message] of [
    [['devices', '--gpus', 'two'], /--gpus must be a whole number >= 1 and at most 1024, or 'all' \(got two\)/],
    [['devices', '--gpus', '0'], /--gpus must be a whole number >= 1/],
    [['devices', '--devices', 'tpu:0'], /--devices: 'tpu:0' is not a device; use cuda:K or cpu/],
    [['devices', '--gpus', '1', '--devices', 'cpu'], /give exactly one of --gpus N\|all or --devices LIST/],
    [['devices', '--gpu', '1'], /Unknown argument/],
  ] as const) {
    const result = cli([...args], tempDir());
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stdout}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split('\n')[0]!.startsWith('onnx-parallelize: '), true, result.stderr);
  }
});

test('run and bench: a GPU that is not there is a usage error naming it and the GPUs there are (exit 2); --gpus all uses every GPU found', () => {
  const two = fakeNvidiaSmi(TWO_H200);
  const missing = cli(['bench', fixture('mlp'), '--devices', 'cuda:0,cuda:7', '--batch', '8', '--runs', '2'], two);
  assert.equal(missing.status, 2);
  assert.equal(missing.stderr, 'onnx-parallelize: --devices cuda:0,cuda:7: cuda:7 does not exist; this machine has 2 GPUs: cuda:0 (NVIDIA H200, 141 GB), cuda:1 (NVIDIA H200, 141 GB)\n');
  const tooMany = cli(['run', fixture('mlp'), '--gpus', '3', '--input', 'x=x.npy', '-o', tempDir()], two, { CUDA_VISIBLE_DEVICES: '1' });
  assert.equal(tooMany.status, 2);
  assert.match(tooMany.stderr, /^onnx-parallelize: --gpus 3: cuda:1 and cuda:2 do not exist; this machine has 1 GPU: cuda:0 \(NVIDIA H200, 141 GB\) \(CUDA_VISIBLE_DEVICES=1 hides 1 more\)\n$/);
  if (noProvider) {
    // --gpus all is cuda:0 and cuda:1 here; they exist, so they go on to start and fail for want of the provider.
    const all = cli(['bench', fixture('mlp'), '--gpus', 'all', '--batch', '8', '--runs', '2'], two);
    assert.equal(all.status, 2);
    assert.match(all.stderr, /2 of 2 devices failed to start:\n {2}device cuda:0 \(replica 0\): the CUDA execution provider is not installed/);
  }
  const none = cli(['bench', fixture('mlp'), '--gpus', 'all', '--batch', '8'], two, { CUDA_VISIBLE_DEVICES: '-1' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /^onnx-parallelize: --gpus all: this machine has no GPU that CUDA can see \(CUDA_VISIBLE_DEVICES=-1 hides 2 more\); give --devices cpu, or --gpus N for another machine\n$/);
});

test('run and bench with no devices on a plain model: the CPU where no GPU is found, said on stderr', bare, () => {
  const folder = tempDir();
  writeFileSync(path.join(folder, 'x.npy'), new Uint8Array(dump(new Float32Array(2 * 16).fill(1), [2, 16])));
  const run = cli(['run', fixture('mlp'), '--input', `x=${path.join(folder, 'x.npy')}`, '-o', path.join(folder, 'out')], tempDir());
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^ran on cpu in /);
  assert.equal(run.stderr, 'onnx-parallelize: no devices given: using the CPU: no GPU found (nvidia-smi is not on PATH, and /proc/driver/nvidia is missing, so no NVIDIA driver is loaded)\n');
  const bench = cli(['bench', fixture('mlp'), '--batch', '4', '--runs', '2', '--json'], tempDir());
  assert.equal(bench.status, 0, bench.stderr);
  assert.deepEqual(JSON.parse(bench.stdout).devices, ['cpu']);
  assert.match(bench.stderr, /^onnx-parallelize: no devices given: using the CPU: no GPU found/);
});

test('--cuda-option on run and bench: errors quote the entry (exit 2); an option for a device whose provider is missing gives the missing-provider error, naming the device', () => {
  const two = fakeNvidiaSmi(TWO_H200);
  const cases: Array<[string[], RegExp]> = [
    [['--devices', 'cuda:0', '--cuda-option', 'gpu_mem_limit=lots'], /^onnx-parallelize: --cuda-option gpu_mem_limit=lots: gpu_mem_limit must be a number of bytes, such as 5000000000, 5e9 or 8GiB \(got 'lots'\)\n$/],
    [['--devices', 'cuda:0', '--cuda-option', 'gpu_mem_limit=1GB@cuda:1'], /^onnx-parallelize: --cuda-option gpu_mem_limit=1GB@cuda:1: cuda:1 is not one of the devices given \(cuda:0\)\n$/],
    [['--devices', 'cpu,cpu', '--cuda-option', 'use_tf32=0'], /^onnx-parallelize: --cuda-option use_tf32=0: CUDA options apply to cuda:K devices, and the devices given are cpu, cpu\n$/],
    // The option reaches onnxruntime (its C API); without the CUDA provider, the device fails as any CUDA device does.
    ...(noProvider ? [[['--devices', 'cuda:0', '--cuda-option', 'gpu_mem_limit=2GiB@cuda:0'], /device cuda:0 \(replica 0\): the CUDA execution provider is not installed/] as [string[], RegExp]] : []),
  ];
  for (const [args, message] of cases) {
    const result = cli(['bench', fixture('mlp'), '--batch', '4', '--runs', '2', ...args], two);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stdout}`);
    assert.match(result.stderr, message);
  }
});

test('the rewrite needs a number of replicas: --gpus all is refused with the reason (exit 2)', () => {
  const result = cli([fixture('mlp'), '--gpus', 'all', '-o', path.join(tempDir(), 'out.onnx')], fakeNvidiaSmi(TWO_H200));
  assert.equal(result.status, 2);
  assert.equal(result.stderr, 'onnx-parallelize: --gpus all: the rewrite writes a fixed number of replicas, for this machine or another; give --gpus N (onnx-parallelize devices counts the GPUs here)\n');
});
