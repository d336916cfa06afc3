/**
 * `onnx-parallelize serve REPOSITORY` run as a user runs it: the models and skipped ones said at start, SIGTERM
 * with requests in flight to several models answers every one and exits 0, model control from the command line,
 * and bad options or models exit 2 with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliPath, fixture, runCli, tempDir } from './helpers.js';
import { metric, slowModelFile, slowRows, statusOf, waitFor } from './serve-client.js';
import { launch } from './serve-process.js';

const readyLine = /serving (\d+) model version\(s\) at (http:\/\/127\.0\.0\.1:\d+)\/v2 \(model control: (\w+)\) \(metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics); gRPC: (127\.0\.0\.1:\d+)\)$/;

function repository(models: Record<string, { file: string; config?: string }>): { root: string; remove: () => void } {
  const root = tempDir('onnx-parallelize-repo-');
  for (const [name, { file, config }] of Object.entries(models)) {
    mkdirSync(path.join(root, name, '1'), { recursive: true });
    copyFileSync(file, path.join(root, name, '1', 'model.onnx'));
    if (config !== undefined) writeFileSync(path.join(root, name, 'config.pbtxt'), config);
  }
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

test('serve REPOSITORY: its models and the skipped ones said at start; SIGTERM with requests in flight to two models answers them all and exits 0', { timeout: 240_000 }, async () => {
  const slow = slowModelFile();
  const repo = repository({
    slow: { file: slow.file, config: 'name: "slow"\nbackend: "onnxruntime"\nmax_batch_size: 64\ninstance_group [{ kind: KIND_CPU, count: 2 }]\ndynamic_batching { }\n' },
    copy: { file: slow.file, config: 'name: "copy"\nbackend: "onnxruntime"\nmax_batch_size: 8\ninstance_group [{ kind: KIND_CPU, count: 1 }]\n' },
    script: { file: fixture('mlp'), config: 'name: "script"\nbackend: "python"\n' },
  });
  const server = await launch([cliPath, 'serve', repo.root, '--port', '0', '--metrics-port', '0'], readyLine);
  try {
    const [, count, url, mode, metricsUrl] = readyLine.exec(server.line)!;
    assert.equal(count, '2');
    assert.equal(mode, 'none');
    assert.deepEqual(server.line.split('\n'), ["model 'copy' version 1 on cpu", "model 'slow' version 1 on cpu, cpu", readyLine.exec(server.line)![0]]);
    assert.match(server.stderr(), /^onnx-parallelize: skipped model 'script': .*python/m);
    assert.equal(await statusOf(`${url}/v2/health/ready`), 200);

    // Without a dynamic_batching section, the copy runs its requests one by one: one runs, the other waits.
    const sent = [
      ...[16, 16, 32, 1].map((rows) => ({ model: 'slow', request: slowRows(rows) })),
      ...[8, 8].map((rows) => ({ model: 'copy', request: slowRows(rows) })),
    ].map(({ model, request }) =>
      fetch(`${url}/v2/models/${model}/infer`, { method: 'POST', body: request.body, headers: request.headers }).then(async (response) => {
        await response.arrayBuffer();
        return response.status;
      }),
    );
    await waitFor('the requests to reach both models', async () => {
      const text = await (await fetch(metricsUrl!)).text();
      return metric(text, 'nv_inference_pending_request_count{model="slow",version="1"}') === 4 && metric(text, 'nv_inference_pending_request_count{model="copy",version="1"}') === 2;
    });
    const exit = server.stop('SIGTERM');
    assert.deepEqual(await Promise.all(sent), [200, 200, 200, 200, 200, 200], 'every accepted request answered');
    assert.equal(await exit, 0, server.stderr());
    const lines = server.stdout().trim().split('\n');
    assert.match(lines.at(-2)!, /^SIGTERM: not ready; (answering \d request\(s\) in progress for up to 30000 ms|no requests in progress), then stopping/);
    assert.equal(lines.at(-1), 'stopped');
  } finally {
    await server.stop('SIGKILL');
    repo.remove();
    slow.remove();
  }
});

test('serve REPOSITORY --model-control-mode explicit --load-model: only those at start, the others on request', { timeout: 180_000 }, async () => {
  const repo = repository({ mlp: { file: fixture('mlp') }, pair: { file: fixture('two_in_two_out') } });
  const server = await launch([cliPath, 'serve', repo.root, '--port', '0', '--metrics-port', '0', '--model-control-mode', 'explicit', '--load-model', 'pair', '--devices', 'cpu'], readyLine);
  try {
    const [, count, url, mode] = readyLine.exec(server.line)!;
    assert.equal(count, '1');
    assert.equal(mode, 'explicit');
    assert.equal(await statusOf(`${url}/v2/models/mlp/ready`), 404);
    assert.equal(await statusOf(`${url}/v2/repository/models/mlp/load`, { method: 'POST' }), 200);
    assert.equal(await statusOf(`${url}/v2/models/mlp/ready`), 200);
    assert.equal(await server.stop('SIGTERM'), 0);
  } finally {
    await server.stop('SIGKILL');
    repo.remove();
  }
});

test('serve: bad model control options, a model that fails to load, and --exit-on-error=false', { timeout: 180_000 }, async () => {
  const repo = repository({ mlp: { file: fixture('mlp') } });
  mkdirSync(path.join(repo.root, 'broken', '1'), { recursive: true });
  writeFileSync(path.join(repo.root, 'broken', '1', 'model.onnx'), 'not a model');
  try {
    const ports = ['--port', '0', '--metrics-port', '0'];
    const cases: Array<[string[], RegExp]> = [
      [[repo.root, '--model-control-mode', 'sometimes'], /--model-control-mode must be one of none, explicit, poll \(got 'sometimes'\)/],
      [[repo.root, '--load-model', 'mlp'], /--load-model is for --model-control-mode explicit/],
      [[repo.root, '--model-control-mode', 'explicit', '--repository-poll-secs', '5'], /--repository-poll-secs is for --model-control-mode poll/],
      [[repo.root, '--model-control-mode', 'poll', '--repository-poll-secs', '0'], /--repository-poll-secs must be a whole number from 1 up/],
      [[repo.root, '--name', 'other'], /a model name can be given for one \.onnx file only/],
      [[repo.root], /^onnx-parallelize: failed to load 'broken': .*not an ONNX model.*--exit-on-error=false/],
    ];
    for (const [args, pattern] of cases) {
      const result = runCli(['serve', ...args, ...ports]);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
    }
    assert.match(runCli(['serve', '--help']).stdout, /--model-control-mode[\s\S]*--load-model[\s\S]*--repository-poll-secs[\s\S]*--exit-on-error/);

    const server = await launch([cliPath, 'serve', repo.root, ...ports, '--exit-on-error=false'], readyLine);
    try {
      const url = readyLine.exec(server.line)![2]!;
      assert.equal(await statusOf(`${url}/v2/models/mlp/ready`), 200);
      assert.equal(await statusOf(`${url}/v2/health/ready`), 503, 'not ready: broken should be loaded and is not');
      assert.equal(await server.stop('SIGTERM'), 0);
    } finally {
      await server.stop('SIGKILL');
    }
  } finally {
    repo.remove();
  }
});
