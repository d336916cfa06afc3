/**
 * The fuzz cases and what each must do: mutated fixtures run through decode -> inspect -> parallelize (several
 * device counts and weights) -> encode -> decode, as the library and the CLI run them. Every case is either
 * rewritten (the result encodes, decodes to the same plan and encodes to the same bytes again) or refused with
 * one of the project's own errors. An engine error, or the engine's words in a message, is a failure.
 */
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { clone } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from '../src/onnx.js';
import { InputError } from '../src/errors.js';
import { decodeModel, encodeModel } from '../src/io/codec.js';
import { externalReferences } from '../src/io/external-data.js';
import { loadModel } from '../src/io/files.js';
import { parallelizeFile } from '../src/parallelize-file.js';
import { formatInspectReport, inspectModel } from '../src/inspect.js';
import { parallelize } from '../src/transform/parallelize.js';
import { readPlan } from '../src/transform/plan.js';
import { combineModes, type ParallelizeOptions } from '../src/transform/options.js';
import type { ParallelizeResult } from '../src/transform/parallelize.js';
import { SeededRandom } from '../src/tensors/random.js';
import { mutateBytes, pick, planMutation, structureMutations, type Mutation } from './fuzz-mutations.js';
import { fixture, fixtureNames } from './helpers.js';

/** Words of the JavaScript engine and of the protobuf runtime: never what the user should read. */
const ENGINE_WORDS = [
  'Cannot read properties',
  'Cannot set properties',
  'is not a function',
  'is not iterable',
  'is not a constructor',
  'Maximum call stack',
  'Invalid array length',
  'Invalid typed array length',
  'invalid int64',
  'invalid int32',
  'invalid uint32',
  'cannot be converted to a BigInt',
  'Cannot convert',
  'Cannot mix BigInt',
  'Unexpected token',
  'Unexpected end of JSON',
  'is not valid JSON',
  'Array buffer allocation failed',
  '[object Object]',
];

export interface FuzzCase {
  index: number;
  label: string;
  /** Structure-aware damage to a model, damage to its execution plan, or damage to its bytes. */
  kind: 'structure' | 'plan' | 'bytes';
  /** The damage done, by name. */
  mutations: string[];
  /** The damaged file, or (for damage no file can hold) the damaged message object. */
  input: { bytes: Uint8Array } | { model: ModelProto };
  options: ParallelizeOptions[];
}

export interface CaseResult {
  rewritten: number;
  refused: number;
  /** The first words of each refusal, to show what the refusals were. */
  refusals: string[];
  failures: string[];
  /** On the CLI's path (a file): the command that refused the file and its message, or null when it was written. */
  cli?: { command: 'inspect' | 'parallelize'; message: string | null };
}

interface Base {
  name: string;
  model: ModelProto;
  bytes: Uint8Array;
}

const devices = (n: number): string[] => Array.from({ length: n }, (_, i) => `cuda:${i}`);

/**
 * Option sets: balanced and weighted, several device counts, weights that cannot be used, IR versions, every
 * way to combine an output, and batch axes given by hand (some out of range).
 */
function optionSets(random: SeededRandom, base: ModelProto): ParallelizeOptions[] {
  const outputs = base.graph?.output.map((o) => o.name) ?? [];
  const inputs = base.graph?.input.map((i) => i.name) ?? [];
  const all: ParallelizeOptions[] = [
    { devices: devices(2), combine: Object.fromEntries(outputs.map((name) => [name, pick(random, combineModes)])) },
    { devices: devices(3), axes: Object.fromEntries([...inputs, ...outputs].filter(() => random.next() < 0.5).map((name) => [name, pick(random, [null, 0, 1, 2, -1, -3, 7, 1.5, 1e20])])) },
    { devices: devices(2) },
    { devices: devices(pick(random, [1, 3, 4, 8])) },
    { devices: devices(3), weights: [3, 2, 1] },
    { devices: devices(2), weights: pick(random, [[1e-7, 1], [1e300, 1], [0.1, 0.2], [2.5, 1e-3], [1, 1e9], [Number.MAX_VALUE, Number.MIN_VALUE], [1, 1]]) },
    { devices: ['cpu', 'cuda:0'], irVersion: pick(random, [9, 10, 11]) },
  ];
  const first = random.int(0, all.length - 1);
  const second = (first + random.int(1, all.length - 1)) % all.length;
  return [all[first]!, all[second]!];
}

/** The fixtures, and their rewrites (which carry an execution plan). */
export function loadBases(): { plain: Base[]; rewritten: Base[] } {
  const plain = fixtureNames().map((name) => {
    const bytes = new Uint8Array(readFileSync(fixture(name)));
    return { name, bytes, model: decodeModel(bytes, name) };
  });
  const rewritten = plain.map((base) => {
    const model = parallelize(base.model, { devices: devices(2) }).model;
    return { name: `${base.name} rewritten`, model, bytes: encodeModel(model) };
  });
  return { plain, rewritten };
}

function applyOne(model: ModelProto, random: SeededRandom, mutations: readonly Mutation[]): Mutation | undefined {
  for (let attempt = 0; attempt < 8; attempt++) {
    const mutation = pick(random, mutations);
    if (mutation.apply(model, random)) return mutation;
  }
  return undefined;
}

/**
 * Case `index` of the run with `seed`: the same every time. Most are structure-aware mutations of a fixture
 * (one or two), some damage the plan of a rewritten fixture, the rest damage the bytes of either.
 */
export function makeCase(bases: { plain: Base[]; rewritten: Base[] }, seed: number, index: number): FuzzCase {
  const random = new SeededRandom(seed * 1_000_003 + index);
  const kind = random.next();
  if (kind < 0.15) {
    const base = pick(random, random.next() < 0.7 ? bases.plain : bases.rewritten);
    const options = optionSets(random, base.model);
    const damaged = mutateBytes(base.bytes, random);
    return { index, label: `#${index} ${base.name}: ${damaged.name}`, kind: 'bytes', mutations: [damaged.name], input: { bytes: damaged.bytes }, options };
  }
  const planCase = kind < 0.27;
  const base = pick(random, planCase ? bases.rewritten : bases.plain);
  const options = optionSets(random, base.model);
  const model = clone(ModelProtoSchema, base.model);
  const applied = planCase ? [planMutation] : [applyOne(model, random, structureMutations)];
  if (!planCase && random.next() < 0.25) applied.push(applyOne(model, random, structureMutations));
  const names = applied.filter((m): m is Mutation => m !== undefined);
  const label = `#${index} ${base.name}: ${names.map((m) => m.name).join(' + ') || 'unchanged'}`;
  if (planCase) planMutation.apply(model, random);
  const inMemory = names.some((m) => m.inMemoryOnly === true) || random.next() < 0.4;
  return { index, label, kind: planCase ? 'plan' : 'structure', mutations: names.map((m) => m.name), input: inMemory ? { model } : { bytes: encodeModel(model) }, options };
}

/** Why `error` is not an acceptable refusal, or undefined when it is one. */
export function unacceptable(error: unknown): string | undefined {
  if (!(error instanceof InputError)) {
    const name = error instanceof Error ? error.constructor.name : typeof error;
    return `${name} instead of an InputError: ${error instanceof Error ? error.stack : String(error)}`;
  }
  const words = ENGINE_WORDS.find((w) => error.message.includes(w));
  if (words !== undefined) return `the message has the engine's words '${words}': ${error.message}`;
  if (error.message.includes('\n')) return `the message is not one line: ${error.message}`;
  if (error.message.trim() === '') return 'the message is empty';
  return undefined;
}

/** The first words of a refusal, with names and numbers taken out, to count refusals by kind. */
export const refusalKind = (message: string): string => message.replace(/'[^']*'/g, "'…'").replace(/-?\d[\d.e+]*/g, 'N').slice(0, 70);

/** Runs one case; failures name the case, the step and what went wrong. */
export function runCase(fuzzCase: FuzzCase): CaseResult {
  const result: CaseResult = { rewritten: 0, refused: 0, refusals: [], failures: [] };
  const attempt = <T>(step: string, work: () => T): { ok: true; value: T } | { ok: false } => {
    try {
      return { ok: true, value: work() };
    } catch (error) {
      const why = unacceptable(error);
      if (why !== undefined) result.failures.push(`${fuzzCase.label}: ${step}: ${why}`);
      else {
        result.refused += 1;
        result.refusals.push(refusalKind((error as Error).message));
      }
      return { ok: false };
    }
  };
  const loaded = attempt('decode', () => {
    const model = 'bytes' in fuzzCase.input ? decodeModel(fuzzCase.input.bytes, 'fuzz.onnx') : fuzzCase.input.model;
    externalReferences(model, 'fuzz.onnx');
    formatInspectReport('fuzz.onnx', inspectModel(model));
    return model;
  });
  if (!loaded.ok) return result;
  for (const options of fuzzCase.options) {
    const rewritten: { ok: true; value: ParallelizeResult } | { ok: false } = attempt(`parallelize ${JSON.stringify(options)}`, (): ParallelizeResult => parallelize(loaded.value, options));
    if (!rewritten.ok) continue;
    // A value the rewrite carries over without computing with it can still be one no file holds (a message
    // built in code): the encoder refuses it, as saving would.
    const encoded: { ok: true; value: Uint8Array } | { ok: false } = attempt(`encode ${JSON.stringify(options)}`, (): Uint8Array => encodeModel(rewritten.value.model));
    if (!encoded.ok) continue;
    try {
      const bytes = encoded.value;
      const again = decodeModel(bytes, 'fuzz.parallel.onnx');
      assert.deepEqual(readPlan(again), rewritten.value.plan, 'the plan read back differs');
      assert.equal(Buffer.compare(encodeModel(again), bytes), 0, 'encoding the decoded result gives other bytes');
      formatInspectReport('fuzz.parallel.onnx', inspectModel(again));
      result.rewritten += 1;
    } catch (error) {
      result.failures.push(`${fuzzCase.label}: the result of ${JSON.stringify(options)} does not encode and decode: ${error instanceof Error ? error.stack : String(error)}`);
    }
  }
  return result;
}

/**
 * The CLI's path for a damaged file: `inspect` (loadModel, inspectModel) and the rewrite (parallelizeFile with
 * the first option set), in `folder`. A refusal must be an InputError, which the CLI prints as one line and
 * exits 2 on; either way nothing but the input and a complete output may be left in the folder.
 */
export async function runFileCase(fuzzCase: FuzzCase & { input: { bytes: Uint8Array } }, folder: string): Promise<CaseResult> {
  const result: CaseResult = { rewritten: 0, refused: 0, refusals: [], failures: [] };
  const file = path.join(folder, 'model.onnx');
  const output = path.join(folder, 'model.parallel.onnx');
  await fs.writeFile(file, fuzzCase.input.bytes);
  let message: string | null = null;
  let command: 'inspect' | 'parallelize' = 'inspect';
  try {
    formatInspectReport(file, inspectModel(await loadModel(file)));
    command = 'parallelize';
    const written = await parallelizeFile(file, { ...fuzzCase.options[0]!, output });
    assert.ok(written.written);
    const again = await loadModel(output);
    assert.equal(readPlan(again)?.devices.length, fuzzCase.options[0]!.devices.length, 'the written model has no plan for its devices');
    assert.equal(Buffer.compare(encodeModel(again), await fs.readFile(output)), 0, 'the written model does not encode to its own bytes');
    result.rewritten += 1;
  } catch (error) {
    const why = unacceptable(error);
    if (why !== undefined) result.failures.push(`${fuzzCase.label}: on the CLI's path: ${why}`);
    else {
      result.refused += 1;
      message = (error as Error).message;
    }
  }
  const left = (await fs.readdir(folder)).sort();
  const expected = message === null ? ['model.onnx', 'model.parallel.onnx'] : ['model.onnx'];
  if (JSON.stringify(left) !== JSON.stringify(expected)) result.failures.push(`${fuzzCase.label}: on the CLI's path the folder holds ${left.join(', ')}`);
  await Promise.all(left.map((name) => fs.rm(path.join(folder, name), { force: true })));
  result.cli = { command, message };
  return result;
}
