import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closedLoop, percentile, summarize } from '../src/runtime/load/load-generator.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('closedLoop keeps exactly C requests outstanding and stops at the request budget', async () => {
  let outstanding = 0;
  let most = 0;
  const run = await closedLoop(
    async () => {
      most = Math.max(most, ++outstanding);
      await sleep(3);
      outstanding--;
    },
    { concurrency: 5, requests: 23 },
  );
  assert.equal(most, 5);
  assert.equal(run.latenciesMs.length, 23);
  assert.equal(run.concurrency, 5);
  // Node's timers may fire up to a millisecond early against performance.now(): each request took >= 2 ms.
  assert.ok(run.latenciesMs.every((ms) => ms >= 2), run.latenciesMs.join(','));
  // 23 requests of >= 2 ms, 5 at a time: at least 5 rounds.
  assert.ok(run.elapsedMs >= 9, `${run.elapsedMs} ms`);
});

test('closedLoop stops issuing at the deadline and lets the requests in flight finish', async () => {
  let issuedAfterDeadline = 0;
  // Times from the first request: the loop's own clock starts just before it, so a request it issues before its
  // deadline is always less than 60 ms after the first.
  let first: number | undefined;
  const run = await closedLoop(
    async () => {
      first ??= performance.now();
      if (performance.now() - first > 60) issuedAfterDeadline++;
      await sleep(10);
    },
    { concurrency: 3, durationMs: 60 },
  );
  assert.equal(issuedAfterDeadline, 0);
  assert.ok(run.elapsedMs >= 60 && run.elapsedMs < 1000, `${run.elapsedMs} ms`);
  assert.ok(run.latenciesMs.length >= 3 && run.latenciesMs.length <= 3 * 7, `${run.latenciesMs.length} requests`);
});

test('closedLoop: a failed request stops the loop and rejects with its error once the others settle', async () => {
  let calls = 0;
  let settled = 0;
  await assert.rejects(
    closedLoop(
      async () => {
        const call = ++calls;
        await sleep(1);
        settled++;
        if (call === 4) throw new Error('request 4 failed');
      },
      { concurrency: 2, durationMs: 10_000 },
    ),
    /request 4 failed/,
  );
  assert.equal(settled, calls);
  assert.ok(calls <= 5, `${calls} calls`);
  await assert.rejects(closedLoop(async () => undefined, { concurrency: 0, requests: 1 }), /concurrency must be a whole number >= 1/);
  await assert.rejects(closedLoop(async () => undefined, { concurrency: 1 }), /give durationMs, requests or both/);
});

test('percentile is nearest rank; summarize joins runs', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 0.5), 50);
  assert.equal(percentile(sorted, 0.95), 95);
  assert.equal(percentile(sorted, 0.99), 99);
  assert.equal(percentile([7], 0.99), 7);
  assert.equal(percentile([1, 2, 3], 0), 1);
  assert.ok(Number.isNaN(percentile([], 0.5)));
  const summary = summarize(
    [
      { concurrency: 2, latenciesMs: [4, 1, 3], elapsedMs: 500 },
      { concurrency: 2, latenciesMs: [2], elapsedMs: 500 },
    ],
    8,
  );
  assert.deepEqual(summary, { concurrency: 2, requests: 4, elapsedMs: 1000, throughput: 4, rowsPerSecond: 32, p50: 2, p95: 4, p99: 4, mean: 2.5 });
});
