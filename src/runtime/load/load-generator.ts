/**
 * A closed-loop load generator, as Triton's perf_analyzer drives a server: `concurrency` clients each keep one
 * request outstanding, issuing the next as soon as the last one finishes, until a time or request budget is
 * spent. Latency is measured per request from the moment it is issued until it resolves (queueing included),
 * throughput as finished requests over the time from the first issue to the last completion.
 */
import { ArgumentRangeError } from '../../errors.js';

export interface ClosedLoopOptions {
  /** Requests outstanding at once (whole number >= 1). */
  concurrency: number;
  /** Stop issuing new requests after this many milliseconds (those in flight still finish). */
  durationMs?: number;
  /** Stop after this many requests in total. At least one of durationMs and requests is needed. */
  requests?: number;
  /** Called after each finished request with the fraction of the budget spent so far. */
  onProgress?: (fraction: number) => void;
}

/** The raw record of one closed-loop run. */
export interface LoadRun {
  concurrency: number;
  /** Latency of every finished request, in ms, in the order they finished. */
  latenciesMs: number[];
  /** From the first request issued to the last one finished, in ms. */
  elapsedMs: number;
}

export interface LoadSummary {
  concurrency: number;
  requests: number;
  /** Time measured, in ms: the runs' elapsed times added up. */
  elapsedMs: number;
  /** Requests per second. */
  throughput: number;
  /** Rows per second (requests per second times the rows of each request). */
  rowsPerSecond: number;
  /** Latency percentiles and mean, in ms. */
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

/**
 * Runs `send` in a closed loop. A request that rejects stops the loop: no new requests are issued, and the
 * returned promise rejects with that error once the requests in flight have settled.
 */
export async function closedLoop(send: () => Promise<unknown>, options: ClosedLoopOptions): Promise<LoadRun> {
  const { concurrency, durationMs, requests } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new ArgumentRangeError(`concurrency must be a whole number >= 1 (got ${concurrency})`);
  if (durationMs === undefined && requests === undefined) throw new ArgumentRangeError('closedLoop: give durationMs, requests or both');
  if (durationMs !== undefined && !(durationMs >= 0)) throw new ArgumentRangeError(`durationMs must be >= 0 (got ${durationMs})`);
  const start = performance.now();
  const deadline = durationMs === undefined ? Infinity : start + durationMs;
  const limit = requests ?? Infinity;
  const latenciesMs: number[] = [];
  let issued = 0;
  let failure: { error: unknown } | undefined;
  let last = start;
  const progress = (): number => Math.min(1, Math.max(latenciesMs.length / limit, (performance.now() - start) / (deadline - start)));
  // Every client issues its first request even when the duration is 0: a run always measures something.
  const client = async (): Promise<void> => {
    for (let first = true; failure === undefined && issued < limit && (first || performance.now() < deadline); first = false) {
      issued++;
      const begin = performance.now();
      try {
        await send();
      } catch (error) {
        failure ??= { error };
        return;
      }
      last = performance.now();
      latenciesMs.push(last - begin);
      options.onProgress?.(progress());
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  if (failure !== undefined) throw failure.error;
  return { concurrency, latenciesMs, elapsedMs: last - start };
}

/** The p-quantile (0..1) of sorted values, nearest rank (as perf_analyzer reports its percentiles). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Throughput and latency of one or more runs at the same concurrency, taken together (e.g. A B B A halves). */
export function summarize(runs: readonly LoadRun[], rowsPerRequest: number): LoadSummary {
  if (runs.length === 0) throw new ArgumentRangeError('summarize: no runs');
  const latencies = runs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const elapsedMs = runs.reduce((sum, r) => sum + r.elapsedMs, 0);
  const throughput = elapsedMs > 0 ? (latencies.length * 1000) / elapsedMs : 0;
  return {
    concurrency: runs[0]!.concurrency,
    requests: latencies.length,
    elapsedMs,
    throughput,
    rowsPerSecond: throughput * rowsPerRequest,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    mean: latencies.reduce((sum, v) => sum + v, 0) / latencies.length,
  };
}
