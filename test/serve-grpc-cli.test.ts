/**
 * `onnx-parallelize serve` with its gRPC endpoint, as a process: the ready line names the endpoint; SIGTERM
 * with gRPC calls and a stream in flight answers every one of them, refuses new calls, and exits 0; bad gRPC
 * options exit 2 with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as ort from 'onnxruntime-node';
import { cliPath, fixture, runCli } from './helpers.js';
import { launch, type Running } from './serve-process.js';
import { slowModelFile, waitFor } from './serve-client.js';
import { inferRequest, outputsOf, tritonClient } from './serve-grpc-client.js';

const readyLine = /^serving model '.+' version 1 on .+ \(metrics: (\S+); gRPC: (\S+)\)$/;
const readyOrNone = /\(metrics: \S+; gRPC: \S+\)$/;

/** Starts the CLI with `args` and waits for its ready line. */
const start = (args: string[]): Promise<Running> => launch([cliPath, ...args], readyOrNone);

test('serve --grpc-port 0: the ready line names the gRPC endpoint; SIGTERM with calls and a stream in flight answers them all, refuses new calls, exits 0', { timeout: 240_000 }, async () => {
  const slow = slowModelFile();
  const server = await start(['serve', slow.file, '--devices', 'cpu,cpu', '--port', '0', '--metrics-port', '0', '--grpc-port', '0', '--name', 'slow-model', '--max-batch', '64', '--max-queue-delay-us', '100']);
  const rows = (batch: number): Record<string, ort.Tensor> => ({ x: new ort.Tensor('float32', Float32Array.from({ length: batch * 512 }, (_, i) => i % 512), [batch, 512]) });
  try {
    const match = readyLine.exec(server.line);
    assert.ok(match !== null, server.line);
    const [, metricsUrl, address] = match;
    assert.match(address!, /^127\.0\.0\.1:\d+$/);
    const client = tritonClient(address!);
    try {
      assert.deepEqual(await client.call('ServerReady', {}), { ready: true });
      const sent = [16, 16, 32, 1].map((batch) => client.call('ModelInfer', inferRequest('slow-model', rows(batch), { id: `r${batch}` })));
      const stream = client.stream([inferRequest('slow-model', rows(8), { id: 's8' }), inferRequest('slow-model', rows(2), { id: 's2' })]);
      await waitFor('the calls to reach the model', async () => {
        const text = await (await fetch(metricsUrl!)).text();
        return /nv_inference_pending_request_count\{model="slow-model",version="1"\} 6/.test(text);
      });
      const exit = server.stop('SIGTERM');
      const answers = await Promise.all(sent);
      assert.deepEqual(answers.map((a) => outputsOf(a)['y']!.dims[0]), [16, 16, 32, 1], 'every call in flight answered');
      assert.deepEqual(Array.from(outputsOf(answers[3]!)['y']!.data as Float32Array).slice(0, 3), [0, 1, 2]);
      const streamed = await stream;
      assert.deepEqual(streamed.map((a) => [a['error_message'], a['infer_response']?.['id']]).sort(), [['', 's2'], ['', 's8']], 'every request of the stream answered');
      await assert.rejects(client.call('ModelInfer', inferRequest('slow-model', rows(1)), { deadline: Date.now() + 10_000 }), (error: grpc.ServiceError) => {
        assert.equal(error.code, grpc.status.UNAVAILABLE, error.details);
        return true;
      });
      assert.equal(await exit, 0, server.stderr());
      // Some of the six may have been answered between the metric's reading and the signal.
      assert.match(server.stdout(), /SIGTERM: not ready; answering [1-6] request\(s\) in progress for up to 30000 ms, then stopping/);
      assert.match(server.stdout(), /\nstopped\n$/);
    } finally {
      client.close();
    }
  } finally {
    await server.stop('SIGKILL');
    slow.remove();
  }
});

test('SIGTERM with a stream left open: it is ended after --drain-ms and the process exits 0', { timeout: 120_000 }, async () => {
  const server = await start(['serve', fixture('mlp'), '--devices', 'cpu', '--port', '0', '--metrics-port', '0', '--grpc-port', '0', '--drain-ms', '1500']);
  const client = tritonClient(readyLine.exec(server.line)![2]!);
  try {
    // A stream whose client never ends it: one request answered, then idle.
    const call = (client.raw as unknown as { ModelStreamInfer(): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, any>> }).ModelStreamInfer(); // eslint-disable-line @typescript-eslint/no-explicit-any
    const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
      call.on('error', resolve);
      call.on('end', () => resolve(undefined));
    });
    const first = new Promise<Record<string, unknown>>((resolve) => call.once('data', resolve));
    call.write(inferRequest('mlp', { x: new ort.Tensor('float32', new Float32Array(16).fill(1), [1, 16]) }, { id: 'open' }));
    assert.equal(((await first)['infer_response'] as Record<string, unknown>)['id'], 'open');
    const began = Date.now();
    assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
    const took = Date.now() - began;
    assert.ok(took >= 1_400 && took < 15_000, `exited ${took} ms after SIGTERM`);
    const error = await ended;
    assert.ok(error === undefined || [grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.INTERNAL].includes(error.code), `the stream ended with ${error?.code}: ${error?.details}`);
  } finally {
    client.close();
    await server.stop('SIGKILL');
  }
});

test('serve --allow-grpc=false serves HTTP only; bad gRPC options exit 2 with one line', { timeout: 180_000 }, async () => {
  const server = await start(['serve', fixture('mlp'), '--devices', 'cpu', '--port', '0', '--metrics-port', '0', '--allow-grpc=false']);
  try {
    assert.match(server.line, /; gRPC: none\)$/);
    assert.equal(await server.stop('SIGTERM'), 0);
  } finally {
    await server.stop('SIGKILL');
  }
  const cases: Array<[string[], RegExp]> = [
    [['--grpc-port', '70000'], /--grpc-port must be a whole number from 0 to 65535 \(got 70000\)/],
    [['--grpc-port', '9', '--allow-grpc=false'], /--grpc-port is for the gRPC endpoint, which --allow-grpc=false turns off; give one or the other/],
  ];
  for (const [args, pattern] of cases) {
    const result = runCli(['serve', fixture('mlp'), '--devices', 'cpu', '--port', '0', '--metrics-port', '0', ...args]);
    assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, pattern);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
  }
  // A gRPC port in use: one line naming the option.
  const first = await start(['serve', fixture('mlp'), '--devices', 'cpu', '--port', '0', '--metrics-port', '0', '--grpc-port', '0']);
  try {
    const port = readyLine.exec(first.line)![2]!.split(':')[1]!;
    const second = runCli(['serve', fixture('mlp'), '--devices', 'cpu', '--port', '0', '--metrics-port', '0', '--grpc-port', port]);
    assert.equal(second.status, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`cannot listen for gRPC on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*; choose another --host or --grpc-port`));
    assert.equal(second.stderr.trim().split('\n').length, 1, `one line: ${second.stderr}`);
  } finally {
    await first.stop('SIGKILL');
  }
});
