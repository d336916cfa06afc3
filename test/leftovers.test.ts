/**
 * ParallelSession never leaves files in a user's folders: not after a failed create, a dead device, release(),
 * or a process that ends without release(); and in a read-only folder it works without writing there.
 * The model used has external data, the case where onnxruntime needs the model's folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { ParallelSession } from '../src/index.js';
import { missingCudaProvider } from '../src/runtime/gpu/providers.js';
import { compareTensors } from '../src/verify/compare.js';
import { fixture, fixturesDir, repoRoot, tempDir } from './helpers.js';

type Feeds = Record<string, ort.Tensor>;

/** A fresh folder holding a copy of the external-data fixture; returns the model's path. */
function modelInFreshFolder(): string {
  const folder = tempDir('onnx-parallelize-leftovers-');
  for (const file of ['external_data.onnx', 'external_data.weights']) copyFileSync(path.join(fixturesDir, file), path.join(folder, file));
  return path.join(folder, 'external_data.onnx');
}

/** Everything in the folder, dotfiles included. */
const listing = (folder: string): string[] => readdirSync(folder).sort();

const feeds = (batch: number): Feeds => ({ x: new ort.Tensor('float32', Float32Array.from({ length: batch * 16 }, (_, i) => Math.cos(i)), [batch, 16]) });

async function assertLikePlain(session: ParallelSession, batch: number): Promise<void> {
  const input = feeds(batch);
  const plain = await ort.InferenceSession.create(fixture('external_data'));
  const expected = await plain.run(input);
  await plain.release();
  const comparison = compareTensors((await session.run(input))['y']!, expected['y']!);
  assert.ok(comparison.equal, `ParallelSession differs from a plain session: ${comparison.detail}`);
}

interface Scenario {
  name: string;
  /** Does what the scenario says to the model at `model`, and checks the library's answer. */
  act(model: string): Promise<void>;
}

const badSessionOptions = [{ graphOptimizationLevel: 'bogus' }, { logSeverityLevel: 9 }] as unknown as ort.InferenceSession.SessionOptions[];

const scenarios: Scenario[] = [
  {
    name: 'a bad device string',
    async act(model) {
      await assert.rejects(ParallelSession.create(model, { devices: ['cpu', 'gpu:0'] }), /'gpu:0' is not a device/);
    },
  },
  {
    name: 'a cuda:0 device',
    async act(model) {
      const outcome = await ParallelSession.create(model, { devices: ['cpu', 'cuda:0'] }).catch((error: unknown) => error);
      if (outcome instanceof ParallelSession) {
        // A machine where the CUDA provider is installed and works.
        assert.equal(missingCudaProvider(), undefined, 'cuda:0 started although its provider is missing');
        await outcome.release();
      } else {
        assert.match(String(outcome), /device cuda:0 \(replica 1\)/);
        if (missingCudaProvider() !== undefined) assert.match(String(outcome), /CUDA execution provider is not installed/);
      }
    },
  },
  ...badSessionOptions.map((sessionOptions) => ({
    name: `session options onnxruntime rejects (${JSON.stringify(sessionOptions)})`,
    async act(model: string) {
      await assert.rejects(ParallelSession.create(model, { devices: ['cpu', 'cpu'], sessionOptions }), /failed to start/);
    },
  })),
  {
    name: 'devices that are killed, with runs between',
    async act(model) {
      const session = await ParallelSession.create(model, { devices: ['cpu', 'cpu'] });
      await assertLikePlain(session, 5);
      session.deviceOf(0).kill();
      while (session.deviceOf(0).alive) await new Promise((resolve) => setTimeout(resolve, 5));
      // The other device goes on; with it gone too, runs fail naming the device.
      await assertLikePlain(session, 5);
      session.deviceOf(1).kill();
      while (session.deviceOf(1).alive) await new Promise((resolve) => setTimeout(resolve, 5));
      await assert.rejects(session.run(feeds(5)), /no device can run any more/);
      await session.release();
    },
  },
  {
    name: 'create, run and release',
    async act(model) {
      const session = await ParallelSession.create(model, { devices: ['cpu', 'cpu'] });
      await assertLikePlain(session, 7);
      await session.release();
    },
  },
];

/** Runs every scenario on the model, checking after each that its folder's listing is unchanged. */
async function checkScenarios(model: string): Promise<void> {
  const folder = path.dirname(model);
  const before = listing(folder);
  for (const scenario of scenarios) {
    await scenario.act(model);
    assert.deepEqual(listing(folder), before, `after ${scenario.name}: files left in the model's folder`);
  }
}

/** What a child started by this file does, by the value of this variable; the model is in `${childModel}`. */
const childMode = 'ONNX_PARALLELIZE_LEFTOVERS_CHILD';
const childModel = 'ONNX_PARALLELIZE_LEFTOVERS_MODEL';
type ChildMode = 'read-only' | 'no-release' | 'exit-after-create';

async function child(mode: ChildMode, model: string): Promise<void> {
  if (mode === 'read-only') {
    assert.throws(() => writeFileSync(path.join(path.dirname(model), 'probe'), ''), { code: 'EACCES' }, 'the folder is read-only for this process');
    await checkScenarios(model);
    return;
  }
  const session = await ParallelSession.create(model, { devices: ['cpu', 'cpu'] });
  if (mode === 'exit-after-create') process.exit(0);
  await assertLikePlain(session, 3);
  // No release(): the process ends when its event loop is empty.
}

const thisFile = fileURLToPath(import.meta.url);
const capsThatBypassPermissions = '-dac_override,-dac_read_search,-fowner';

/** Runs this file as a child in `mode`; as root it runs without the capabilities that ignore file permissions. */
function runChild(mode: ChildMode, model: string, options: { dropRootPermissions?: boolean } = {}): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, [childMode]: mode, [childModel]: model };
  delete env['NODE_TEST_CONTEXT'];
  const command = [process.execPath, thisFile];
  if (options.dropRootPermissions === true) command.unshift('setpriv', `--inh-caps=${capsThatBypassPermissions}`, `--bounding-set=${capsThatBypassPermissions}`, '--');
  return spawnSync(command[0]!, command.slice(1), { cwd: repoRoot, env, encoding: 'utf8', timeout: 120_000 });
}

function assertChildSucceeded(result: SpawnSyncReturns<string>, label: string): void {
  assert.equal(result.error, undefined, `${label}: ${result.error?.message}`);
  assert.equal(result.signal, null, `${label}: the child was killed (timed out?)\n${result.stderr}`);
  assert.equal(result.status, 0, `${label}: the child failed\n${result.stderr}`);
}

const mode = process.env[childMode] as ChildMode | undefined;
if (mode !== undefined) {
  await child(mode, process.env[childModel]!);
} else {
  test('nothing is left in the model folder after a failed create, a killed device or release()', async () => {
    const model = modelInFreshFolder();
    try {
      await checkScenarios(model);
    } finally {
      rmSync(path.dirname(model), { recursive: true, force: true });
    }
  });

  test('a read-only model folder: everything works and fails as in a writable one, writing nothing', () => {
    const model = modelInFreshFolder();
    const folder = path.dirname(model);
    // Root ignores file permissions; setpriv (util-linux) starts the child without the capabilities that allow it.
    const asRoot = process.getuid?.() === 0;
    chmodSync(folder, 0o555);
    try {
      assertChildSucceeded(runChild('read-only', model, { dropRootPermissions: asRoot }), 'read-only folder');
      assert.deepEqual(listing(folder), ['external_data.onnx', 'external_data.weights']);
    } finally {
      chmodSync(folder, 0o755);
      rmSync(folder, { recursive: true, force: true });
    }
  });

  for (const exit of ['no-release', 'exit-after-create'] as const) {
    const how = exit === 'no-release' ? 'a process that runs and ends without release()' : 'a process that calls process.exit() right after create';
    test(`${how} leaves nothing in the model folder`, () => {
      const model = modelInFreshFolder();
      const folder = path.dirname(model);
      try {
        const before = listing(folder);
        assertChildSucceeded(runChild(exit, model), how);
        assert.deepEqual(listing(folder), before);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });
  }
}
