/**
 * Runs the fuzz cases in a worker thread, so that the test can stop a case that never ends: it reports each case
 * before running it, and the summary at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { ParallelizeOptions } from '../src/transform/options.js';
import { loadBases, makeCase, refusalKind, runCase, runFileCase, type CaseResult, type FuzzCase } from './fuzz-run.js';

export interface FuzzSettings {
  seed: number;
  cases: number;
  /** Every how many cases the CLI's path (a file) is taken as well. */
  fileEvery: number;
  /** A case that runs longer fails. */
  caseLimitMs: number;
}

export interface FuzzSummary {
  cases: number;
  /** Cases by kind of damage (structure, plan, bytes). */
  kinds: Record<string, number>;
  /** Cases rewritten by at least one option set, and cases refused by all. */
  casesRewritten: number;
  casesRefused: number;
  /** Decodes and rewrites: each option set of each case that decodes is one rewrite. */
  rewritten: number;
  refused: number;
  fileCases: number;
  failures: string[];
  /** Refusals by their first words, most frequent first. */
  refusals: Array<[string, number]>;
  slowest: { ms: number; label: string };
  /** How many cases each kind of damage was done in. */
  mutations: Record<string, number>;
  /** Damaged files refused on the CLI's path, one per kind of refusal: the file, its bytes, the command and its message. */
  cliSamples: Array<{ label: string; file: string; bytes: Uint8Array; options: ParallelizeOptions; command: 'inspect' | 'parallelize'; message: string }>;
}

export type WorkerMessage = { type: 'case'; label: string } | { type: 'done'; summary: FuzzSummary };

async function main(settings: FuzzSettings): Promise<FuzzSummary> {
  const bases = loadBases();
  const folder = mkdtempSync(path.join(os.tmpdir(), 'onnx-parallelize-fuzz-'));
  const summary: FuzzSummary = { cases: 0, kinds: {}, casesRewritten: 0, casesRefused: 0, rewritten: 0, refused: 0, fileCases: 0, failures: [], refusals: [], slowest: { ms: 0, label: '' }, mutations: {}, cliSamples: [] };
  const refusals = new Map<string, number>();
  /** Refusals on the CLI's path of one kind (their first words, the folder taken out) are sampled once. */
  const kind = (message: string): string => refusalKind(message.replaceAll(folder, '')).slice(0, 24);
  const add = (result: CaseResult): void => {
    summary.rewritten += result.rewritten;
    summary.refused += result.refused;
    summary.failures.push(...result.failures);
    for (const kind of result.refusals) refusals.set(kind, (refusals.get(kind) ?? 0) + 1);
  };
  try {
    for (let index = 0; index < settings.cases; index++) {
      const fuzzCase: FuzzCase = makeCase(bases, settings.seed, index);
      parentPort!.postMessage({ type: 'case', label: fuzzCase.label } satisfies WorkerMessage);
      for (const name of fuzzCase.mutations) summary.mutations[name] = (summary.mutations[name] ?? 0) + 1;
      summary.kinds[fuzzCase.kind] = (summary.kinds[fuzzCase.kind] ?? 0) + 1;
      const start = performance.now();
      const result = runCase(fuzzCase);
      add(result);
      if (result.rewritten > 0) summary.casesRewritten += 1;
      else summary.casesRefused += 1;
      if (index % settings.fileEvery === 0 && 'bytes' in fuzzCase.input) {
        const onFile = await runFileCase({ ...fuzzCase, input: fuzzCase.input }, folder);
        add(onFile);
        summary.fileCases += 1;
        const message = onFile.cli?.message;
        if (message != null && summary.cliSamples.length < 6 && !summary.cliSamples.some((s) => kind(s.message) === kind(message))) {
          const { command } = onFile.cli!;
          summary.cliSamples.push({ label: fuzzCase.label, file: path.join(folder, 'model.onnx'), bytes: fuzzCase.input.bytes, options: fuzzCase.options[0]!, command, message });
        }
      }
      const ms = performance.now() - start;
      if (ms > summary.slowest.ms) summary.slowest = { ms, label: fuzzCase.label };
      if (ms > settings.caseLimitMs) summary.failures.push(`${fuzzCase.label}: took ${ms.toFixed(0)} ms`);
      summary.cases += 1;
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  summary.refusals = [...refusals].sort((a, b) => b[1] - a[1]);
  return summary;
}

const summary = await main(workerData as FuzzSettings);
parentPort!.postMessage({ type: 'done', summary } satisfies WorkerMessage);
