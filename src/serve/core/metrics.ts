/**
 * What the server counts for each model version, and the two views of it that Triton's clients read: Prometheus metrics
 * with Triton's names and labels (through prom-client), and the statistics extension's JSON.
 *
 * ParallelSession does not time each request's wait in its queue; it measures, per run, the time its devices spend
 * inside onnxruntime (stats().busyMs) and on the run's inputs and outputs in their workers (inputMs, outputMs).
 * A request's compute times (input, infer, output) are taken as the devices' mean times per run over the last
 * 100 ms or so (together at most its own time inside the session), and its queue time as the rest of its time
 * inside the session; they add up to what the request really took there.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { SessionStats } from '../../runtime/session/parallel-session.js';

/** Why a request failed, as Triton's `reason` label says it. */
export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';
const failureReasons: FailureReason[] = ['REJECTED', 'CANCELED', 'BACKEND', 'OTHER'];

const REFRESH_MS = 100;

/** Mean times of a run, in ms: inside onnxruntime, and on its inputs before and its outputs after. */
interface RunTimes {
  busyMs: number;
  inputMs: number;
  outputMs: number;
}

/**
 * The Prometheus metrics of every model served, in one registry with Triton's names, labelled by `model` and
 * `version`: each metric reads the counts of the models in the set when it is collected.
 */
export class MetricsRegistry {
  readonly registry = new Registry();
  readonly #models = new Set<ModelMetrics>();

  constructor() {
    const labelNames = ['model', 'version'] as const;
    const registers = [this.registry];
    const models = this.#models;
    const counter = (name: string, help: string, value: (m: ModelMetrics) => number): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect(this: Counter<'model' | 'version'>) {
          this.reset();
          for (const m of models) this.inc({ model: m.model, version: m.version }, value(m));
        },
      });
    };
    counter('nv_inference_request_success', 'Number of successful inference requests, all batch sizes', (m) => m.success);
    new Counter({
      name: 'nv_inference_request_failure',
      help: 'Number of failed inference requests, all batch sizes',
      labelNames: ['model', 'version', 'reason'] as const,
      registers,
      collect(this: Counter<'model' | 'version' | 'reason'>) {
        this.reset();
        for (const m of models) for (const reason of failureReasons) this.inc({ model: m.model, version: m.version, reason }, m.failures[reason]);
      },
    });
    counter('nv_inference_count', 'Number of inferences performed (rows of the successful requests)', (m) => m.rows);
    counter('nv_inference_exec_count', 'Number of model executions performed (runs of merged or split batches)', (m) => m.executions());
    counter('nv_inference_request_duration_us', 'Cumulative inference request duration in microseconds', (m) => Math.round(m.successUs));
    counter('nv_inference_queue_duration_us', 'Cumulative inference queuing duration in microseconds', (m) => Math.round(m.queueUs));
    counter('nv_inference_compute_input_duration_us', 'Cumulative compute input duration in microseconds', (m) => Math.round(m.computeInputUs));
    counter('nv_inference_compute_infer_duration_us', 'Cumulative compute inference duration in microseconds', (m) => Math.round(m.computeUs));
    counter('nv_inference_compute_output_duration_us', 'Cumulative compute output duration in microseconds', (m) => Math.round(m.computeOutputUs));
    new Gauge({
      name: 'nv_inference_pending_request_count',
      help: 'Instantaneous number of pending requests awaiting execution per-model.',
      labelNames,
      registers,
      collect(this: Gauge<'model' | 'version'>) {
        this.reset();
        for (const m of models) this.set({ model: m.model, version: m.version }, m.pending);
      },
    });
  }

  /** Counts `metrics` from now on (a model version loaded). */
  add(metrics: ModelMetrics): void {
    this.#models.add(metrics);
  }

  /** Stops counting `metrics` (a model version unloaded): its series leave /metrics, as Triton's do. */
  remove(metrics: ModelMetrics): void {
    this.#models.delete(metrics);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/** What the server counts for one version of a model, for Prometheus (MetricsRegistry) and the statistics extension. */
export class ModelMetrics {
  /** Successful requests, their rows, and their time end to end, inside the session, queued and computing. */
  success = 0;
  rows = 0;
  successUs = 0;
  queueUs = 0;
  computeUs = 0;
  computeInputUs = 0;
  computeOutputUs = 0;
  readonly failures: Record<FailureReason, number> = { REJECTED: 0, CANCELED: 0, BACKEND: 0, OTHER: 0 };
  failureUs = 0;
  /** Requests inside the session now. */
  pending = 0;
  /** When the last request was answered, in ms since the epoch (0: never). */
  lastInference = 0;
  #meanRun: RunTimes | undefined;
  #refreshedAt = -Infinity;
  #last: RunTimes & { batches: number } = { inputMs: 0, busyMs: 0, outputMs: 0, batches: 0 };

  constructor(
    readonly model: string,
    readonly version: string,
    private readonly sessionStats: (() => SessionStats) | undefined,
  ) {}

  /** Runs of the model: from the session's statistics, else one per successful request. */
  executions(): number {
    return this.sessionStats === undefined ? this.success : this.sessionStats().total.batches;
  }

  /** A request answered: its rows, its time end to end and its time inside the session, in ms. */
  recordSuccess(rows: number, requestMs: number, runMs: number): void {
    const mean = this.meanRun();
    const computeMs = Math.min(runMs, mean?.busyMs ?? runMs);
    const inputMs = Math.min(runMs - computeMs, mean?.inputMs ?? 0);
    const outputMs = Math.min(runMs - computeMs - inputMs, mean?.outputMs ?? 0);
    this.success++;
    this.rows += rows;
    this.successUs += requestMs * 1000;
    this.computeUs += computeMs * 1000;
    this.computeInputUs += inputMs * 1000;
    this.computeOutputUs += outputMs * 1000;
    this.queueUs += (runMs - computeMs - inputMs - outputMs) * 1000;
    this.lastInference = Date.now();
  }

  recordFailure(reason: FailureReason, requestMs: number): void {
    this.failures[reason]++;
    this.failureUs += requestMs * 1000;
    this.lastInference = Date.now();
  }

  /** The devices' mean times per run lately, from the session's statistics (refreshed every REFRESH_MS). */
  private meanRun(): RunTimes | undefined {
    if (this.sessionStats === undefined) return undefined;
    const now = performance.now();
    if (now - this.#refreshedAt < REFRESH_MS && this.#meanRun !== undefined) return this.#meanRun;
    const { busyMs, inputMs, outputMs, batches } = this.sessionStats().total;
    const last = this.#last;
    const runs = batches - last.batches;
    if (runs > 0) this.#meanRun = { busyMs: (busyMs - last.busyMs) / runs, inputMs: (inputMs - last.inputMs) / runs, outputMs: (outputMs - last.outputMs) / runs };
    this.#last = { busyMs, inputMs, outputMs, batches };
    this.#refreshedAt = now;
    return this.#meanRun;
  }

  /** The statistics extension's `model_stats` entry of the model. */
  tritonStats(): Record<string, unknown> {
    const ns = (us: number): number => Math.round(us * 1000);
    const duration = (count: number, us: number): { count: number; ns: number } => ({ count, ns: ns(us) });
    const stats = this.sessionStats?.();
    const failed = failureReasons.reduce((sum, r) => sum + this.failures[r], 0);
    const sizes = Object.entries(stats?.total.batchSizes ?? {}).map(([size, count]) => [Number(size), count] as const);
    return {
      name: this.model,
      version: this.version,
      last_inference: this.lastInference,
      inference_count: this.rows,
      execution_count: stats?.total.batches ?? this.success,
      inference_stats: {
        success: duration(this.success, this.successUs),
        fail: duration(failed, this.failureUs),
        queue: duration(this.success, this.queueUs),
        compute_input: duration(this.success, this.computeInputUs),
        compute_infer: duration(this.success, this.computeUs),
        compute_output: duration(this.success, this.computeOutputUs),
        cache_hit: duration(0, 0),
        cache_miss: duration(0, 0),
      },
      // Runs by their number of rows, with their time inside onnxruntime (inputs and outputs are not timed apart).
      batch_stats: sizes
        .sort((a, b) => a[0] - b[0])
        .map(([size, count]) => ({
          batch_size: size,
          compute_input: duration(count, 0),
          compute_infer: duration(count, (stats?.total.batchBusyMs[size] ?? 0) * 1000),
          compute_output: duration(count, 0),
        })),
    };
  }
}
