/**
 * `onnx-parallelize serve` run as a user runs it, in a child process: it prints one line when ready, answers the
 * protocol, and on SIGTERM answers every request it accepted and exits 0; bad options exit 2 with one line. The
 * example server (examples/http-server) is the same server in a few lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { cliPath, fixture, repoRoot, runCli } from './helpers.js';
import { infer, inferBody, slowModelFile, slowRows, statusOf, waitFor } from './serve-client.js';
import { launch } from './serve-process.js';
import * as ort from 'onnxruntime-node';

const readyLine = /^serving model '(.+)' version 1 on (.+) at (http:\/\/127\.0\.0\.1:\d+)\/v2\/models\/\S+ \(metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics); gRPC: (127\.0\.0\.1:\d+)\)$/;

test('serve: one line when ready; answers the protocol; SIGTERM with requests in flight answers them all and exits 0', { timeout: 180_000 }, async () => {
  const slow = slowModelFile();
  const server = await launch([cliPath, 'serve', slow.file, '--devices', 'cpu,cpu', '--port', '0', '--metrics-port', '0', '--name', 'slow-model', '--max-batch', '64', '--max-queue-delay-us', '100'], readyLine);
  try {
    const [, name, devices, url, metricsUrl] = readyLine.exec(server.line)!;
    assert.equal(name, 'slow-model');
    assert.equal(devices, 'cpu, cpu');
    assert.equal(server.line.split('\n').length, 1, 'one line');
    assert.equal(await statusOf(`${url}/v2/health/ready`), 200);
    assert.equal(await statusOf(metricsUrl!), 200);
    const answer = await infer(url!, 'slow-model', inferBody({ x: new ort.Tensor('float32', Float32Array.from({ length: 512 }, (_, i) => i), [1, 512]) }, { binary: true }));
    assert.deepEqual(Array.from(answer.outputs['y']!.data as Float32Array).slice(0, 4), [0, 1, 2, 3]);

    // Requests in flight when SIGTERM comes: each one is answered before the process exits 0.
    const sent = [16, 16, 32, 1].map((rows) => {
      const request = slowRows(rows);
      return fetch(`${url}/v2/models/slow-model/infer`, { method: 'POST', body: request.body, headers: request.headers });
    });
    await waitFor('the requests to reach the model', async () => {
      const text = await (await fetch(metricsUrl!)).text();
      return /nv_inference_pending_request_count\{model="slow-model",version="1"\} 4/.test(text);
    });
    const exit = server.stop('SIGTERM');
    // Each body is read to its end before the server closes the connection (see statusOf).
    const statuses = await Promise.all(sent.map(async (pending) => {
      const response = await pending;
      await response.arrayBuffer();
      return response.status;
    }));
    assert.deepEqual(statuses, [200, 200, 200, 200], 'every accepted request answered');
    assert.equal(await exit, 0, server.stderr());
    assert.deepEqual(server.stdout().trim().split('\n').slice(1), [
      'SIGTERM: not ready; answering 4 request(s) in progress for up to 30000 ms, then stopping (a second signal stops at once)',
      'stopped',
    ]);
  } finally {
    await server.stop('SIGKILL');
    slow.remove();
  }
});

test('serve: bad options and models exit 2 with one line naming the option and the fix', { timeout: 180_000 }, () => {
  const cases: Array<[string[], RegExp]> = [
    [['--devices', 'cpu', '--port', '70000'], /--port must be a whole number from 0 to 65535 \(got 70000\)/],
    [['--devices', 'cpu', '--metrics-port', '-1'], /--metrics-port must be a whole number from 0 to 65535/],
    [['--devices', 'cpu', '--max-batch', '0'], /--max-batch must be a whole number from 1 up \(got 0\)/],
    [['--devices', 'cpu', '--max-queue-delay-us', '-5'], /--max-queue-delay-us must be a number of microseconds >= 0/],
    [['--devices', 'cpu', '--timeout-ms', '1.5'], /--timeout-ms must be a whole number from 1 up/],
    [['--devices', 'cpu', '--max-body-bytes', 'lots'], /--max-body-bytes must be a whole number from 1 up \(got NaN\)/],
    [['--devices', 'cpu', '--name', 'a/b'], /--name 'a\/b': not a safe folder name/],
    [['--devices', 'cpu', '--gpus', '2'], /give exactly one of --gpus N or --devices LIST/],
    [['--devices', 'gpu'], /'gpu' is not a device/],
  ];
  for (const [args, pattern] of cases) {
    const ports = ['--port', '--metrics-port'].flatMap((option) => (args.includes(option) ? [] : [option, '0']));
    const result = runCli(['serve', fixture('mlp'), ...ports, ...args]);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  }
  const missing = runCli(['serve', path.join(repoRoot, 'no-such-model.onnx'), '--devices', 'cpu', '--port', '0', '--metrics-port', '0']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no-such-model\.onnx: no such file/);
});

test('serve: a port in use exits 2 naming the fix', { timeout: 120_000 }, async () => {
  const first = await launch([cliPath, 'serve', fixture('mlp'), '--devices', 'cpu', '--port', '0', '--metrics-port', '0'], readyLine);
  try {
    const port = new URL(readyLine.exec(first.line)![3]!).port;
    const second = runCli(['serve', fixture('mlp'), '--devices', 'cpu', '--port', port, '--metrics-port', '0']);
    assert.equal(second.status, 2, second.stderr);
    assert.match(second.stderr, /cannot listen on 127\.0\.0\.1: .*EADDRINUSE.*; choose another --host, --port or --metrics-port/);
    assert.equal(await first.stop('SIGINT'), 0, 'SIGINT: a clean exit');
  } finally {
    await first.stop('SIGKILL');
  }
});

test('the example server is the library server in a few lines', { timeout: 120_000 }, async () => {
  const example = await launch([path.join(repoRoot, 'dist/examples/http-server/server.js'), fixture('mlp'), 'cpu,cpu', '0'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  try {
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(example.line)![1]!;
    const answer = await infer(url, 'mlp', inferBody({ x: new ort.Tensor('float32', new Float32Array(32).fill(1), [2, 16]) }));
    assert.deepEqual(answer.outputs['y']!.dims, [2, 8]);
    assert.equal(await example.stop('SIGTERM'), 0);
  } finally {
    await example.stop('SIGKILL');
  }
});
