import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { dump } from 'npyjs';
import { encodeModel } from '../src/io/codec.js';
import { loadModel } from '../src/io/files.js';
import { int64Tensor, makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { fixture, repoRoot, runCli, tempDir } from './helpers.js';

function copyFixture(name: string, folder = tempDir()): string {
  const file = path.join(folder, `${name}.onnx`);
  copyFileSync(fixture(name), file);
  return file;
}

test('writes <stem>.parallel.onnx beside the input and reports what it decided', () => {
  const file = copyFixture('recurrent_state');
  const result = runCli([file, '--gpus', '2']);
  assert.equal(result.status, 0, result.stderr);
  const out = file.replace('.onnx', '.parallel.onnx');
  assert.ok(existsSync(out));
  assert.match(result.stdout, /input  state: split on axis 1, balanced \(dim 'batch'\)/);
  assert.match(result.stdout, /output new_state: concatenated on axis 1/);
  assert.equal(readdirSync(path.dirname(file)).length, 2, 'no temp files left');
});

test('-o, --devices, --weights, --verify and --json', async () => {
  const folder = tempDir();
  const file = copyFixture('cnn', folder);
  const out = path.join(folder, 'sub.onnx');
  const result = runCli([file, '--devices', 'cuda:0,cuda:2', '--devices', 'cpu', '--weights', '2,1,1', '--verify', '--json', '-o', out]);
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.deepEqual(report.devices, ['cuda:0', 'cuda:2', 'cpu']);
  assert.deepEqual(report.weights, [2, 1, 1]);
  assert.deepEqual(report.inputs, [{ name: 'image', axis: 0, batch: 'N', split: 'weights 2:1:1', sizes: null, reason: "dim 'N'" }]);
  assert.deepEqual(report.verify.runs.map((r: { sizes: number[] }) => r.sizes), [[1, 0, 0], [2, 1, 0], [2, 1, 1], [8, 4, 3]]);
  assert.equal(report.verify.status, 'passed');
  assert.equal(report.verified, true);
  assert.equal(report.verify.verified, true);
  assert.deepEqual(report.verify.runs.map((r: { batch: number }) => r.batch), [1, 3, 4, 15]);
  assert.ok(report.verify.maxRelError <= 1e-5);
  assert.deepEqual((await loadModel(out)).configuration[0]!.device, ['cuda:0', 'cuda:2', 'cpu']);
});

test('--quiet prints nothing; the same input and options give the same bytes', () => {
  const folder = tempDir();
  const file = copyFixture('loop', folder);
  const a = runCli([file, '--gpus', '3', '--quiet', '-o', path.join(folder, 'a.onnx')]);
  const b = runCli([file, '--gpus', '3', '--quiet', '-o', path.join(folder, 'b.onnx')]);
  assert.equal(a.status, 0);
  assert.equal(a.stdout + b.stdout, '');
  assert.deepEqual(readFileSync(path.join(folder, 'a.onnx')), readFileSync(path.join(folder, 'b.onnx')));
});

test('--verify exits 1 on a model that is not separable per sample, and writes nothing', () => {
  const folder = tempDir();
  const file = copyFixture('batch_coupled', folder);
  const result = runCli([file, '--gpus', '2', '--verify']);
  assert.equal(result.status, 1);
  assert.match(result.stdout, /verify: failed/);
  assert.match(result.stdout, /max abs error/);
  assert.match(result.stdout, /operators that can mix the samples of a batch: Softmax \(axis 0\)/);
  assert.deepEqual(readdirSync(folder), ['batch_coupled.onnx']);
});

/** y = Reshape(x, [1, 4]): the original accepts batch 1 only, which puts rows on one replica. */
function batchOneOnlyModel(folder: string): string {
  const model = makeModel(
    makeGraph({
      name: 'batch_one_only',
      inputs: [makeValueInfo('x', DT.FLOAT, ['batch', 4])],
      outputs: [makeValueInfo('y', DT.FLOAT, ['batch', 4])],
      initializers: [int64Tensor('shape', [1, 4])],
      nodes: [makeNode('Reshape', ['x', 'shape'], ['y'])],
    }),
    { opset: 13 },
  );
  const file = path.join(folder, 'batch_one_only.onnx');
  writeFileSync(file, encodeModel(model));
  return file;
}

test('--verify exits 1 with "not verified" when no batch split over replicas could be compared, and writes nothing', () => {
  const folder = tempDir();
  const file = batchOneOnlyModel(folder);
  const result = runCli([file, '--gpus', '2', '--verify']);
  assert.equal(result.status, 1, result.stdout + result.stderr);
  assert.match(result.stdout, /verify: not verified: no batch that puts rows on two or more replicas could be compared \(batch 2: the original model rejects the generated inputs: .*Reshape.*\); give real samples with --verify-input/);
  assert.match(result.stdout, /batches tried: 1 \(one replica\), 2 \(not-verifiable\), 3 \(not-verifiable\), 11 \(not-verifiable\)/);
  assert.doesNotMatch(result.stdout, /verify: passed/);
  const quiet = runCli([file, '--gpus', '2', '--verify', '--quiet', '--json']);
  assert.equal(quiet.status, 1);
  const report = JSON.parse(quiet.stdout);
  assert.equal(report.verified, false);
  assert.equal(report.written, false);
  assert.equal(report.verify.status, 'not-verifiable');
  assert.deepEqual(readdirSync(folder), ['batch_one_only.onnx']);
});

test('--verify on the float16 fixture compares every batch and reports verified', () => {
  const folder = tempDir();
  const file = copyFixture('fp16_weights', folder);
  const result = runCli([file, '--gpus', '2', '--verify', '--json']);
  assert.equal(result.status, 0, result.stdout + result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.verified, true);
  assert.deepEqual(report.verify.runs.map((r: { batch: number; status: string }) => `${r.batch} ${r.status}`), ['1 passed', '2 passed', '3 passed', '11 passed']);
  assert.ok(existsSync(file.replace('.onnx', '.parallel.onnx')));
});

test('--verify-input uses real samples from .npy files', () => {
  const folder = tempDir();
  const file = copyFixture('scalar_side_input', folder);
  writeFileSync(path.join(folder, 'audio.npy'), new Uint8Array(dump(Float32Array.from({ length: 5 * 32 }, (_, i) => Math.sin(i)), [5, 32])));
  writeFileSync(path.join(folder, 'gain.npy'), new Uint8Array(dump(Float32Array.of(0.5), [])));
  const result = runCli([file, '--gpus', '2', '--verify-input', `audio=${path.join(folder, 'audio.npy')}`, '--verify-input', `gain=${path.join(folder, 'gain.npy')}`, '--json']);
  assert.equal(result.status, 0, result.stderr);
  const runs = JSON.parse(result.stdout).verify.runs;
  assert.equal(runs[runs.length - 1].batch, 5, 'one run at the sample batch');
  assert.ok(runs.every((r: { status: string }) => r.status === 'passed'));
});

test('--axis and --combine on the command line', () => {
  const folder = tempDir();
  const model = makeModel(
    makeGraph({
      name: 'g',
      inputs: [makeValueInfo('x', DT.FLOAT, [3, 'n'])],
      outputs: [makeValueInfo('y', DT.FLOAT, [3, 'n']), makeValueInfo('s', DT.FLOAT, [])],
      nodes: [makeNode('Relu', ['x'], ['y']), makeNode('ReduceSum', ['x'], ['s'], { keepdims: 0 })],
    }),
    { opset: 13 },
  );
  const file = path.join(folder, 'm.onnx');
  writeFileSync(file, encodeModel(model));
  const refused = runCli([file, '--gpus', '2']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /output 's' has no batch axis .*--combine s=/);
  const ok = runCli([file, '--gpus', '2', '--axis', 'x=1', '--axis', 'y=1', '--combine', 's=sum', '--verify']);
  assert.equal(ok.status, 0, ok.stderr + ok.stdout);
  assert.match(ok.stdout, /input  x: split on axis 1/);
  assert.match(ok.stdout, /output s: combined with sum/);
  assert.match(ok.stdout, /verify: passed/);
});

test('bad options and bad files: one line naming the problem, exit 2, nothing written', () => {
  const folder = tempDir();
  const mlp = copyFixture('mlp', folder);
  const fixed = copyFixture('fixed_batch1', folder);
  const garbage = path.join(folder, 'garbage.onnx');
  writeFileSync(garbage, 'not a model');
  const before = readdirSync(folder).sort();
  const cases: Array<[string[], RegExp]> = [
    [[mlp, '--gpus', '0'], /--gpus must be a whole number >= 1/],
    [[mlp, '--gpus', '1.5'], /--gpus must be a whole number >= 1/],
    [[mlp, '--gpus', 'two'], /--gpus must be a whole number >= 1/],
    [[mlp], /exactly one of --gpus N or --devices/],
    [[mlp, '--gpus', '2', '--devices', 'cuda:0'], /exactly one of --gpus N or --devices/],
    [[mlp, '--devices', 'gpu:0'], /'gpu:0' is not a device/],
    [[mlp, '--gpus', '2', '--weights', '1,2,3'], /--weights has 3 values for 2 devices/],
    [[mlp, '--gpus', '2', '--weights', '1,-1'], /positive/],
    [[mlp, '--gpus', '2', '--axis', 'z=0'], /--axis z: the model has no input or output named 'z'/],
    [[mlp, '--gpus', '2', '--axis', 'x=5'], /--axis x=5: out of range for input 'x' of rank 2/],
    [[mlp, '--gpus', '2', '--axis', 'x=first'], /--axis x=first: the axis must be a whole number/],
    [[mlp, '--gpus', '2', '--combine', 'y=median'], /--combine y=median: use one of/],
    [[fixed, '--gpus', '2', '--weights', '2,1'], /fixed batch of 1/],
    [[mlp, '--gpus', '2', '-o', mlp], /would overwrite the input/],
    [[path.join(folder, 'missing.onnx'), '--gpus', '2'], /no such file/],
    [[folder, '--gpus', '2'], /is a directory/],
    [[garbage, '--gpus', '2'], /not an ONNX model/],
    [[mlp, '--gpus', '2', '--ir-version', '12'], /--ir-version must be a whole number from 3 to 11/],
  ];
  for (const [args, pattern] of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern, args.join(' '));
    assert.equal(result.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line: ${result.stderr}`);
  }
  assert.deepEqual(readdirSync(folder).sort(), before, 'nothing written');
});

test("an option a command does not know is named as typed, once, with the command's own --help", () => {
  const cases: Array<[string[], string]> = [
    [['triton', fixture('mlp'), '-o', 'repo'], 'Unknown argument: -o\n(see onnx-parallelize triton --help)'],
    [['serve', fixture('mlp'), '--max-batchx', '3', '--foo'], 'Unknown arguments: --max-batchx, --foo\n(see onnx-parallelize serve --help)'],
    [[fixture('mlp'), '--gpus', '2', '--repo', 'x'], 'Unknown argument: --repo\n(see onnx-parallelize --help)'],
  ];
  for (const [args, expected] of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, args.join(' '));
    assert.equal(result.stderr, `onnx-parallelize: ${expected}\n`, args.join(' '));
  }
});

test('--help shows examples', () => {
  const result = runCli(['--help']);
  assert.equal(result.status, 0);
  assert.match(result.stdout, /Examples:/);
  assert.match(result.stdout, /--gpus 2/);
});

test('exit codes: what the user gave (an option, a feed, a file) exits 2; a TypeError from a bug is an internal error, 3', () => {
  const exitModule = pathToFileURL(path.join(repoRoot, 'dist/src/cli/exit.js')).href;
  const errorsModule = pathToFileURL(path.join(repoRoot, 'dist/src/errors.js')).href;
  const cases: Array<[string, number, RegExp]> = [
    ["new errors.ArgumentError('options.devices: bad')", 2, /^onnx-parallelize: options\.devices: bad\n$/],
    ["new errors.ArgumentRangeError('concurrency must be >= 1')", 2, /^onnx-parallelize: concurrency must be >= 1\n$/],
    ["new errors.InputError('model.onnx: not a model')", 2, /^onnx-parallelize: model\.onnx: not a model\n$/],
    ["new TypeError(\"Cannot read properties of undefined (reading 'dims')\")", 3, /^onnx-parallelize: internal error: Cannot read properties/],
    ["new RangeError('Invalid array length')", 3, /^onnx-parallelize: internal error: Invalid array length/],
  ];
  for (const [error, code, pattern] of cases) {
    const script = `const errors = await import(${JSON.stringify(errorsModule)}); const { fail } = await import(${JSON.stringify(exitModule)}); fail(${error});`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(result.status, code, `${error}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
  }
});
