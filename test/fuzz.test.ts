/**
 * Structure-aware fuzzing: thousands of seeded mutations of the fixtures (dangling inputs, cycles, duplicate
 * names, bad dims and element types, attributes of the wrong type, missing graphs and bodies, bad opsets,
 * damaged execution plans, truncated and bit-flipped files) run through decode -> inspect -> parallelize ->
 * encode, and a sample of the refused files through the CLI. Each is rewritten or refused with the project's
 * own one-line error; none may crash, hang or print the engine's words.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { cliPath, tempDir } from './helpers.js';
import { structureMutations } from './fuzz-mutations.js';
import type { FuzzSettings, FuzzSummary, WorkerMessage } from './fuzz-worker.js';

const settings: FuzzSettings = { seed: 1, cases: 2600, fileEvery: 10, caseLimitMs: 10_000 };

/** Runs the cases in a worker; a case still running after the limit stops the worker and fails. */
function fuzz(run: FuzzSettings): Promise<FuzzSummary> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./fuzz-worker.js', import.meta.url), { workerData: run, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: 1024 } });
    let current = { label: 'loading the fixtures', since: performance.now() };
    const watchdog = setInterval(() => {
      if (performance.now() - current.since <= run.caseLimitMs) return;
      clearInterval(watchdog);
      void worker.terminate();
      reject(new Error(`${current.label}: still running after ${run.caseLimitMs} ms`));
    }, 200);
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'case') current = { label: message.label, since: performance.now() };
      else resolve(message.summary);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      clearInterval(watchdog);
      reject(new Error(`the fuzz worker ended (code ${code}) during ${current.label}`));
    });
  });
}

/** Runs the CLI without waiting for it, so that the samples run side by side. */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ status: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr });
    });
  });
}

/** The command line that makes the CLI do what the fuzz case did on the CLI's path. */
function cliArgs(sample: FuzzSummary['cliSamples'][number], file: string, folder: string): string[] {
  if (sample.command === 'inspect') return ['inspect', file];
  const { devices, weights, irVersion, axes = {}, combine = {} } = sample.options;
  return [
    file,
    '--devices',
    devices.join(','),
    ...(weights === undefined ? [] : ['--weights', weights.join(',')]),
    ...(irVersion === undefined ? [] : ['--ir-version', String(irVersion)]),
    ...Object.entries(axes).flatMap(([name, axis]) => ['--axis', `${name}=${axis ?? 'none'}`]),
    ...Object.entries(combine).flatMap(([name, mode]) => ['--combine', `${name}=${mode}`]),
    '--quiet',
    '-o',
    path.join(folder, 'model.parallel.onnx'),
  ];
}

test(`fuzz: ${settings.cases} damaged models are each rewritten or refused with the project's own one-line error`, { timeout: 120_000 }, async () => {
  const started = performance.now();
  const summary = await fuzz(settings);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const { structure = 0, plan = 0, bytes = 0 } = summary.kinds;
  console.log(
    `fuzz (seed ${settings.seed}): ${summary.cases} damaged models (${structure} structure-aware mutations, ${plan} damaged plans, ${bytes} damaged files): ` +
      `${summary.casesRewritten} rewritten, ${summary.casesRefused} refused; of ${summary.rewritten + summary.refused} decodes and rewrites, ` +
      `${summary.rewritten} rewritten (encoded and read back) and ${summary.refused} refused; ${summary.fileCases} also on the CLI's path; ` +
      `${seconds} s in all, slowest case ${summary.slowest.ms.toFixed(0)} ms (${summary.slowest.label})`,
  );
  console.log(`most frequent refusals:\n${summary.refusals.slice(0, 8).map(([kind, count]) => `  ${count} ${kind}`).join('\n')}`);
  assert.deepEqual(summary.failures.slice(0, 20), [], `${summary.failures.length} cases failed`);
  assert.equal(summary.cases, settings.cases);
  assert.ok(structure + plan >= 2000, `only ${structure + plan} structure-aware mutations`);
  assert.ok(summary.casesRewritten >= settings.cases / 5, `only ${summary.casesRewritten} cases rewritten`);
  assert.ok(summary.casesRefused >= settings.cases / 5, `only ${summary.casesRefused} cases refused`);
  assert.ok(summary.fileCases >= settings.cases / settings.fileEvery / 2, `only ${summary.fileCases} cases on the CLI's path`);
  for (const name of [...structureMutations.map((m) => m.name), 'bad execution plan', 'truncated', 'bits flipped']) {
    assert.ok((summary.mutations[name] ?? 0) >= 10, `'${name}' was done in ${summary.mutations[name] ?? 0} cases`);
  }

  // The CLI prints exactly the refusal seen on its path, on one line, exits 2 and writes nothing.
  const cliStarted = performance.now();
  assert.ok(summary.cliSamples.length >= 4, `only ${summary.cliSamples.length} kinds of refusal on the CLI's path`);
  await Promise.all(
    summary.cliSamples.map(async (sample) => {
      const folder = tempDir();
      const file = path.join(folder, 'model.onnx');
      writeFileSync(file, sample.bytes);
      const result = await cli(cliArgs(sample, file, folder));
      assert.equal(result.status, 2, `${sample.label}: ${result.stderr}`);
      assert.equal(result.stderr, `onnx-parallelize: ${sample.message.replaceAll(sample.file, file)}\n`, sample.label);
      assert.equal(result.stdout, '', sample.label);
      assert.deepEqual(readdirSync(folder), ['model.onnx'], `${sample.label}: nothing written`);
    }),
  );
  console.log(`the CLI refused ${summary.cliSamples.length} damaged files as the library did, in ${((performance.now() - cliStarted) / 1000).toFixed(1)} s`);
});
