/**
 * Serving Triton model repositories, end to end on real servers and models: two models on their own devices with
 * several versions and version policies, every HTTP route per version, Triton's error texts, model control
 * (explicit loads with configuration and file overrides, bad overrides, unloads that drain, a new version loaded
 * under load with no request dropped, poll mode), and readiness.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { startServer, type InferenceServer, type ServeOptions } from '../src/serve/index.js';
import { encodeModel } from '../src/io/codec.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../src/graph/build.js';
import { TensorProto_DataType as DT } from '../src/onnx.js';
import { fixture, tempDir } from './helpers.js';
import { infer, inferBody, metric, slowModelFile, slowRows, waitFor } from './serve-client.js';

const start = (options: ServeOptions): Promise<InferenceServer> => startServer({ port: 0, metricsPort: 0, ...options });

interface RepoModel {
  /** The fixture (or .onnx path) of each version. */
  versions: Record<string, string>;
  config?: string;
}

/** A model repository in a temporary folder: NAME/VERSION/model.onnx and NAME/config.pbtxt. */
function repository(models: Record<string, RepoModel>): { root: string; remove: () => void } {
  const root = tempDir('onnx-parallelize-repo-');
  for (const [name, model] of Object.entries(models)) addModel(root, name, model);
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

function addModel(root: string, name: string, model: RepoModel): void {
  for (const [version, source] of Object.entries(model.versions)) {
    mkdirSync(path.join(root, name, version), { recursive: true });
    copyFileSync(source.endsWith('.onnx') ? source : fixture(source), path.join(root, name, version, 'model.onnx'));
  }
  if (model.config !== undefined) writeFileSync(path.join(root, name, 'config.pbtxt'), model.config);
}

async function json(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

const errorOf = async (url: string, init?: RequestInit): Promise<[number, string]> => {
  const { status, body } = await json(url, init);
  return [status, (body as { error?: string } | undefined)?.error ?? ''];
};

const post = (body?: unknown): RequestInit => ({ method: 'POST', ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });

const mlpRequest = (rows: number, value = 1): ReturnType<typeof inferBody> => inferBody({ x: new ort.Tensor('float32', new Float32Array(rows * 16).fill(value), [rows, 16]) });

async function plainOutputs(name: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(fixture(name));
  const outputs = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, Array.from(t.data as Float32Array)]));
}

const close = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= 1e-5 * Math.max(1, Math.abs(b[i]!)));

test('a repository of two models on their own devices, with versions: every route per version, skipped backends, Triton\'s texts', { timeout: 180_000 }, async () => {
  const repo = repository({
    mlp: {
      versions: { 1: 'mlp', 2: 'mlp', 3: 'mlp' },
      config: 'name: "mlp"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\nversion_policy: { latest: { num_versions: 2 } }\ninstance_group [{ kind: KIND_CPU, count: 1 }]\ndynamic_batching { }\n',
    },
    pair: { versions: { 1: 'two_in_two_out' }, config: 'name: "pair"\nbackend: "onnxruntime"\nmax_batch_size: 16\ninstance_group [{ kind: KIND_CPU, count: 2 }]\ndynamic_batching { priority_levels: 2 default_priority_level: 1 }\n' },
    script: { versions: { 1: 'mlp' }, config: 'name: "script"\nbackend: "python"\n' },
  });
  const server = await start({ models: [repo.root] });
  try {
    const v2 = `${server.url}/v2`;
    assert.deepEqual(server.models, [
      { name: 'mlp', version: '2', devices: ['cpu'] },
      { name: 'mlp', version: '3', devices: ['cpu'] },
      { name: 'pair', version: '1', devices: ['cpu', 'cpu'] },
    ]);
    assert.deepEqual(server.skipped.map((s) => s.name), ['script']);
    assert.deepEqual(server.notApplied, ["model 'pair' version 1: not applied: dynamic_batching.priority_levels (all requests share one queue)"]);
    assert.match(server.skipped[0]!.reason, /python/);
    assert.deepEqual(((await json(v2)).body as { extensions: string[] }).extensions, ['binary_tensor_data', 'statistics', 'model_configuration', 'model_repository']);
    assert.equal((await fetch(`${v2}/health/ready`)).status, 200);

    // Metadata lists the versions serving; each version answers for itself.
    const metadata = (await json(`${v2}/models/mlp`)).body as { versions: string[]; inputs: unknown[] };
    assert.deepEqual(metadata.versions, ['2', '3']);
    assert.deepEqual(metadata.inputs, [{ name: 'x', datatype: 'FP32', shape: [-1, 16] }]);
    assert.deepEqual((await json(`${v2}/models/mlp/versions/2`)).body, metadata);
    for (const p of ['/models/mlp/versions/3/ready', '/models/mlp/versions/2/ready', '/models/mlp/ready', '/models/pair/ready', '/models/pair/versions/1/ready']) assert.equal((await fetch(`${v2}${p}`)).status, 200, p);

    // Triton's texts for unknown models and versions, on every model route.
    for (const p of ['', '/ready', '/config', '/stats', '/versions/1', '/versions/1/ready', '/versions/1/config', '/versions/1/stats']) {
      assert.deepEqual(await errorOf(`${v2}/models/mlp${p.startsWith('/versions') ? p : `/versions/1${p}`}`), [404, "Request for unknown model: 'mlp' version 1 is not found"], p);
      assert.deepEqual(await errorOf(`${v2}/models/nope${p}`), [404, "Request for unknown model: 'nope' is not found"], p);
    }
    assert.deepEqual(await errorOf(`${v2}/models/script`), [404, "Request for unknown model: 'script' is not found"]);
    assert.deepEqual(await errorOf(`${v2}/models/mlp/versions/1/infer`, { method: 'POST', body: mlpRequest(1).body }), [404, "Request for unknown model: 'mlp' version 1 is not found"]);
    assert.deepEqual(await errorOf(`${v2}/models/nope/infer`, { method: 'POST', body: mlpRequest(1).body }), [404, "Request for unknown model: 'nope' is not found"]);

    // The configuration as read from config.pbtxt and completed.
    const config = (await json(`${v2}/models/mlp/versions/3/config`)).body as Record<string, any>;
    assert.equal(config['name'], 'mlp');
    assert.equal(config['max_batch_size'], 8);
    assert.deepEqual(config['version_policy'], { latest: { num_versions: 2 } });
    assert.deepEqual(config['input'].map((t: Record<string, unknown>) => [t['name'], t['data_type'], t['dims']]), [['x', 'TYPE_FP32', [16]]]);
    const pairConfig = (await json(`${v2}/models/pair/config`)).body as Record<string, any>;
    assert.deepEqual(pairConfig['instance_group'].map((g: Record<string, unknown>) => [g['kind'], g['count']]), [['KIND_CPU', 2]]);

    // Inference on each version, and on the latest when none is named: the plain session's answers.
    const x = new ort.Tensor('float32', Float32Array.from({ length: 48 }, (_, i) => Math.sin(i)), [3, 16]);
    const expected = await plainOutputs('mlp', { x });
    for (const [p, version] of [['/models/mlp/versions/2', '2'], ['/models/mlp/versions/3', '3'], ['/models/mlp', '3']] as const) {
      const answer = await (await fetch(`${v2}${p}/infer`, { method: 'POST', body: inferBody({ x }).body })).json() as { model_name: string; model_version: string; outputs: Array<{ data: number[] }> };
      assert.equal(answer.model_name, 'mlp');
      assert.equal(answer.model_version, version, p);
      assert.ok(close(answer.outputs[0]!.data, expected['y']!), p);
    }
    const feeds = { features: new ort.Tensor('float32', Float32Array.from({ length: 40 }, (_, i) => i / 7), [5, 8]), mask: new ort.Tensor('float32', new Float32Array(20).fill(1), [5, 4]) };
    const pairExpected = await plainOutputs('two_in_two_out', feeds);
    const pair = await infer(server.url, 'pair', inferBody(feeds, { binary: true }));
    assert.ok(close(Array.from(pair.outputs['score']!.data as Float32Array), pairExpected['score']!));
    assert.ok(close(Array.from(pair.outputs['gated']!.data as Float32Array), pairExpected['gated']!));

    // The configuration's max_batch_size holds for each request, with Triton's text.
    assert.deepEqual(await errorOf(`${v2}/models/mlp/infer`, { method: 'POST', body: mlpRequest(9).body }), [400, "inference request batch-size must be <= 8 for 'mlp'"]);
    // A deeply nested "data" is a 400 naming the input, however deep.
    const deep = `{"inputs":[{"name":"x","shape":[1,16],"datatype":"FP32","data":${'['.repeat(200_000)}${']'.repeat(200_000)}}]}`;
    assert.deepEqual(await errorOf(`${v2}/models/mlp/infer`, { method: 'POST', body: deep }), [400, `input 'x': "data" is nested deeper than the 2 dims of shape [1, 16]`]);
    const tooDeep = JSON.stringify({ inputs: [{ name: 'x', shape: [2, 16], datatype: 'FP32', data: [Array(16).fill(1), [Array(16).fill(1)]] }] });
    assert.deepEqual(await errorOf(`${v2}/models/mlp/infer`, { method: 'POST', body: tooDeep }), [400, `input 'x': "data" is nested deeper than the 2 dims of shape [2, 16]`]);

    // Statistics per version, per model and for all; metrics labelled by model and version, in one registry.
    const stats = async (p: string): Promise<Array<{ name: string; version: string; inference_count: number }>> => ((await json(`${v2}${p}`)).body as { model_stats: Array<{ name: string; version: string; inference_count: number }> }).model_stats;
    assert.deepEqual((await stats('/models/mlp/stats')).map((s) => [s.name, s.version, s.inference_count]), [['mlp', '2', 3], ['mlp', '3', 6]]);
    assert.deepEqual((await stats('/models/mlp/versions/2/stats')).map((s) => [s.version, s.inference_count]), [['2', 3]]);
    assert.deepEqual((await stats('/models/stats')).map((s) => [s.name, s.version]), [['mlp', '2'], ['mlp', '3'], ['pair', '1']]);
    const text = await (await fetch(server.metricsUrl!)).text();
    assert.equal(metric(text, 'nv_inference_request_success{model="mlp",version="2"}'), 1);
    assert.equal(metric(text, 'nv_inference_request_success{model="mlp",version="3"}'), 2);
    assert.equal(metric(text, 'nv_inference_count{model="pair",version="1"}'), 5);
    assert.equal(metric(text, 'nv_inference_request_failure{model="mlp",version="3",reason="OTHER"}'), 3);

    // The repository index; load and unload are refused without --model-control-mode explicit, as Triton does.
    assert.deepEqual((await json(`${v2}/repository/index`, post())).body, [
      { name: 'mlp', version: '2', state: 'READY', reason: '' },
      { name: 'mlp', version: '3', state: 'READY', reason: '' },
      { name: 'pair', version: '1', state: 'READY', reason: '' },
    ]);
    for (const action of ['load', 'unload']) assert.deepEqual(await errorOf(`${v2}/repository/models/mlp/${action}`, post()), [503, 'explicit model load / unload is not allowed if polling is enabled']);
    assert.deepEqual(await errorOf(`${v2}/repository/index`), [405, 'use POST for /v2/repository/index']);
    assert.deepEqual(await errorOf(`${v2}/repository/index`, post('{"ready": 1}')), [400, '"ready" must be true or false, got 1']);
  } finally {
    await server.close();
    repo.remove();
  }
});

test('explicit model control: --load-model at start, loads with configuration and file overrides, bad overrides answered 400 with the old version serving', { timeout: 240_000 }, async () => {
  const repo = repository({ mlp: { versions: { 1: 'mlp', 2: 'mlp' } }, pair: { versions: { 1: 'two_in_two_out' } } });
  const server = await start({ models: [repo.root], modelControlMode: 'explicit', loadModels: ['mlp'] });
  try {
    const v2 = `${server.url}/v2`;
    const index = async (ready = false): Promise<Array<Record<string, unknown>>> => (await json(`${v2}/repository/index`, post({ ready }))).body as Array<Record<string, unknown>>;
    const versionOf = async (p = '/models/mlp'): Promise<string> => ((await (await fetch(`${v2}${p}/infer`, { method: 'POST', body: mlpRequest(2).body })).json()) as { model_version: string }).model_version;
    // Without a configuration, the latest version (policy latest 1) on the default devices.
    assert.deepEqual(await index(), [{ name: 'mlp', version: '2', state: 'READY', reason: '' }, { name: 'pair' }]);
    assert.deepEqual(await index(true), [{ name: 'mlp', version: '2', state: 'READY', reason: '' }]);
    assert.equal((await fetch(`${v2}/health/ready`)).status, 200);
    assert.deepEqual(await errorOf(`${v2}/models/pair`), [404, "Request for unknown model: 'pair' is not found"]);

    assert.equal((await fetch(`${v2}/repository/models/pair/load`, post())).status, 200);
    assert.equal(((await json(`${v2}/models/pair`)).body as { name: string }).name, 'pair');

    // A configuration override: version 1 only, on two CPU devices.
    const override = { backend: 'onnxruntime', max_batch_size: 4, version_policy: { specific: { versions: [1] } }, instance_group: [{ kind: 'KIND_CPU', count: 2 }] };
    assert.equal((await fetch(`${v2}/repository/models/mlp/load`, post({ parameters: { config: JSON.stringify(override) } }))).status, 200);
    assert.equal(await versionOf(), '1');
    // Version 2 stops taking requests at once, and is released once drained (UNLOADING until then).
    const [status, error] = await errorOf(`${v2}/models/mlp/versions/2`);
    assert.ok((status === 503 && error === "Request for unknown model: 'mlp' version 2 is not at ready state") || (status === 404 && error === "Request for unknown model: 'mlp' version 2 is not found"), `${status} ${error}`);
    await waitFor('version 2 to be released', async () => (await errorOf(`${v2}/models/mlp/versions/2`))[0] === 404);
    assert.deepEqual(await errorOf(`${v2}/models/mlp/versions/2`), [404, "Request for unknown model: 'mlp' version 2 is not found"]);
    assert.deepEqual(server.models.filter((m) => m.name === 'mlp'), [{ name: 'mlp', version: '1', devices: ['cpu', 'cpu'] }]);
    assert.equal(((await json(`${v2}/models/mlp/config`)).body as { max_batch_size: number }).max_batch_size, 4);

    // File overrides: the model's files come in the request (version 7 here), with the configuration.
    const bytes = readFileSync(fixture('mlp')).toString('base64');
    assert.equal((await fetch(`${v2}/repository/models/mlp/load`, post({ parameters: { config: JSON.stringify({ backend: 'onnxruntime' }), 'file:7/model.onnx': bytes } }))).status, 200);
    assert.equal(await versionOf(), '7');
    assert.equal(await versionOf('/models/mlp/versions/7'), '7');

    // Bad overrides: a clear 400, and version 7 still serving after each.
    const bad: Array<[unknown, RegExp]> = [
      [{ parameters: { config: '{not json' } }, /^failed to load 'mlp': parameters.config/],
      [{ parameters: { config: '{"max_batch_size": "x"}' } }, /^failed to load 'mlp': parameters.config: max_batch_size/],
      [{ parameters: { config: JSON.stringify({ backend: 'python' }) } }, /^failed to load 'mlp': .*python/],
      [{ parameters: { config: JSON.stringify({ version_policy: { specific: { versions: [9] } } }) } }, /^failed to load 'mlp': version 9/],
      [{ parameters: { 'file:1/model.onnx': bytes } }, /^failed to load 'mlp': file overrides .* need the config override/],
      [{ parameters: { config: '{}', 'file:../model.onnx': bytes } }, /^failed to load 'mlp': file override '(file:)?\.\.\/model\.onnx'/],
      [{ parameters: { config: '{}', 'file:1/model.onnx': Buffer.from('not a model').toString('base64') } }, /^failed to load 'mlp': .*model\.onnx: not an ONNX model/],
      [{ parameters: { config: 7 } }, /^parameters.config must be a string/],
      [{ parameters: { config: '{}', 'file:1/model.onnx': 'no base64!' } }, /^parameters\["file:1\/model.onnx"\] must be the file's bytes in base64$/],
      [{ parameters: [] }, /^the load request's "parameters" must be an object$/],
      ['{"parameters":', /^the load request's JSON does not parse/],
    ];
    for (const [body, pattern] of bad) {
      const [status, error] = await errorOf(`${v2}/repository/models/mlp/load`, post(body));
      assert.equal(status, 400, `${JSON.stringify(body)}: ${error}`);
      assert.match(error, pattern);
      assert.equal(await versionOf(), '7', `still serving after ${JSON.stringify(body)}`);
    }
    assert.equal((await fetch(`${v2}/health/ready`)).status, 200, 'a failed load of a model serving leaves it serving and the server ready');
    assert.deepEqual(await errorOf(`${v2}/repository/models/nope/load`, post()), [400, "failed to load 'nope': no model 'nope' in the model repository " + repo.root]);
    assert.equal((await fetch(`${v2}/health/ready`)).status, 200, 'a model that never loaded is not waited for');

    // Unload: gone from inference, UNAVAILABLE in the index; unknown models and bad bodies refused.
    assert.equal((await fetch(`${v2}/repository/models/pair/unload`, post({ parameters: { unload_dependents: true } }))).status, 200);
    assert.deepEqual(await errorOf(`${v2}/models/pair`), [404, "Request for unknown model: 'pair' has no available versions"]);
    assert.deepEqual((await index()).filter((e) => e['name'] === 'pair'), [{ name: 'pair', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' }]);
    assert.deepEqual(await errorOf(`${v2}/repository/models/ghost/unload`, post()), [404, "Request for unknown model: 'ghost' is not found"]);
    assert.deepEqual(await errorOf(`${v2}/repository/models/mlp/unload`, post({ parameters: { unload_dependents: 'yes' } })), [400, 'parameters.unload_dependents must be true or false, got "yes"']);
    const text = await (await fetch(server.metricsUrl!)).text();
    assert.ok(!text.includes('model="pair"'), 'an unloaded model leaves the metrics');
    assert.equal(metric(text, 'nv_inference_request_success{model="mlp",version="7"}'), 13);
  } finally {
    await server.close();
    repo.remove();
  }
});

test('a new version loaded while requests run drops none; an unload answers the requests in progress first', { timeout: 240_000 }, async () => {
  const slow = slowModelFile();
  const config = 'name: "slow"\nbackend: "onnxruntime"\nmax_batch_size: 64\ninstance_group [{ kind: KIND_CPU, count: 1 }]\ndynamic_batching { }\n';
  const repo = repository({ slow: { versions: { 1: slow.file }, config } });
  const server = await start({ models: [repo.root], modelControlMode: 'explicit', loadModels: ['*'] });
  try {
    const v2 = `${server.url}/v2`;
    let loading = true;
    const answers: Array<{ status: number; version: string; afterLoad: boolean }> = [];
    let loaded = false;
    const client = async (): Promise<void> => {
      while (loading) {
        const request = slowRows(2);
        const sentAfterLoad = loaded;
        const response = await fetch(`${v2}/models/slow/infer`, { method: 'POST', body: request.body, headers: request.headers });
        const body = (await response.json()) as { model_version?: string; error?: string };
        answers.push({ status: response.status, version: body.model_version ?? body.error ?? '', afterLoad: sentAfterLoad });
      }
    };
    const clients = [client(), client(), client()];
    await waitFor('requests on version 1', () => answers.length >= 6);
    addModel(repo.root, 'slow', { versions: { 2: slow.file } });
    assert.equal((await fetch(`${v2}/repository/models/slow/load`, post())).status, 200);
    loaded = true;
    await waitFor('requests on version 2', () => answers.filter((a) => a.afterLoad).length >= 6);
    loading = false;
    await Promise.all(clients);
    assert.deepEqual(answers.filter((a) => a.status !== 200), [], 'no request dropped');
    assert.ok(answers.some((a) => a.version === '1') && answers.some((a) => a.version === '2'), 'both versions answered');
    assert.deepEqual([...new Set(answers.filter((a) => a.afterLoad).map((a) => a.version))], ['2'], 'requests sent after the load run on the new version');

    // Unload with requests in progress: each is answered, and the unload answers after them.
    const metricsText = async (): Promise<string> => (await fetch(server.metricsUrl!)).text();
    const inFlight = [16, 16, 32].map(async (rows) => {
      const request = slowRows(rows);
      const response = await fetch(`${v2}/models/slow/infer`, { method: 'POST', body: request.body, headers: request.headers });
      await response.arrayBuffer();
      return response.status;
    });
    await waitFor('three requests in the model', async () => metric(await metricsText(), 'nv_inference_pending_request_count{model="slow",version="2"}') === 3);
    const unload = await fetch(`${v2}/repository/models/slow/unload`, post());
    assert.equal(unload.status, 200);
    // Had the session been released under them, they would have failed.
    assert.deepEqual(await Promise.all(inFlight), [200, 200, 200], 'the requests in progress are answered');
    assert.deepEqual(await errorOf(`${v2}/models/slow/infer`, { method: 'POST', body: slowRows(1).body }), [404, "Request for unknown model: 'slow' has no available versions"]);
  } finally {
    await server.close();
    repo.remove();
    slow.remove();
  }
});

test('poll mode loads new models and versions, reloads changed ones, and unloads removed ones', { timeout: 240_000 }, async () => {
  const repo = repository({ mlp: { versions: { 1: 'mlp' } } });
  const server = await start({ models: [repo.root], modelControlMode: 'poll', repositoryPollSecs: 1 });
  try {
    const v2 = `${server.url}/v2`;
    const versions = async (name: string): Promise<string[] | undefined> => {
      const { status, body } = await json(`${v2}/models/${name}`);
      return status === 200 ? (body as { versions: string[] }).versions : undefined;
    };
    assert.deepEqual(await versions('mlp'), ['1']);
    assert.deepEqual(await errorOf(`${v2}/repository/models/mlp/load`, post()), [503, 'explicit model load / unload is not allowed if polling is enabled']);
    addModel(repo.root, 'mlp', { versions: { 2: 'mlp' } });
    addModel(repo.root, 'pair', { versions: { 1: 'two_in_two_out' } });
    await waitFor('version 2 to replace version 1', async () => JSON.stringify(await versions('mlp')) === '["2"]', 60_000);
    await waitFor('the new model', async () => (await versions('pair')) !== undefined, 60_000);
    writeFileSync(path.join(repo.root, 'mlp', 'config.pbtxt'), 'name: "mlp"\nbackend: "onnxruntime"\nversion_policy: { all { } }\n');
    await waitFor('the changed configuration', async () => JSON.stringify(await versions('mlp')) === '["1","2"]', 60_000);
    rmSync(path.join(repo.root, 'pair'), { recursive: true });
    await waitFor('the removed model to be unloaded', async () => (await versions('pair')) === undefined, 60_000);
    assert.equal((await fetch(`${v2}/health/ready`)).status, 200);
    assert.equal((await infer(server.url, 'mlp', mlpRequest(1))).outputs['y']!.dims[1], 8);
  } finally {
    await server.close();
    repo.remove();
  }
});

test('readiness: a model that fails at start fails the start, or with exitOnError false keeps the server not ready until it is unloaded', { timeout: 180_000 }, async () => {
  const repo = repository({ mlp: { versions: { 1: 'mlp' } } });
  mkdirSync(path.join(repo.root, 'broken', '1'), { recursive: true });
  writeFileSync(path.join(repo.root, 'broken', '1', 'model.onnx'), 'not a model');
  try {
    await assert.rejects(start({ models: [repo.root] }), (error: Error) => {
      assert.equal(error.name, 'InputError');
      assert.match(error.message, /^failed to load 'broken'/);
      assert.match(error.message, /--exit-on-error=false/);
      return true;
    });
    const server = await start({ models: [repo.root], exitOnError: false, modelControlMode: 'explicit', loadModels: ['*'] });
    try {
      const v2 = `${server.url}/v2`;
      assert.equal((await fetch(`${v2}/health/ready`)).status, 503, 'a model that should be loaded is not');
      assert.equal(server.ready, false);
      assert.equal((await fetch(`${v2}/health/live`)).status, 200);
      assert.equal((await infer(server.url, 'mlp', mlpRequest(1))).outputs['y']!.dims[0], 1, 'the other models serve');
      const index = (await json(`${v2}/repository/index`, post())).body as Array<{ name: string; state?: string; reason?: string }>;
      const broken = index.find((e) => e.name === 'broken')!;
      assert.equal(broken.state, 'UNAVAILABLE');
      assert.match(broken.reason!, /^failed to load 'broken'/);
      assert.equal((await fetch(`${v2}/repository/models/broken/unload`, post())).status, 200);
      assert.equal((await fetch(`${v2}/health/ready`)).status, 200, 'ready once no model is waited for');
    } finally {
      await server.close();
    }
  } finally {
    repo.remove();
  }
});

test('a configuration\'s reshape: clients send and get the configured dims, the model sees its own shape', { timeout: 120_000 }, async () => {
  // y = 2x on a batch-only tensor: auto-complete describes it as dims [1] with reshape [], as Triton does.
  const model = encodeModel(
    makeModel(
      makeGraph({
        name: 'double',
        inputs: [makeValueInfo('x', DT.FLOAT, ['batch'])],
        outputs: [makeValueInfo('y', DT.FLOAT, ['batch'])],
        nodes: [makeNode('Add', ['x', 'x'], ['y'])],
      }),
      { opset: 13 },
    ),
  );
  const root = tempDir('onnx-parallelize-repo-');
  mkdirSync(path.join(root, 'double', '1'), { recursive: true });
  writeFileSync(path.join(root, 'double', '1', 'model.onnx'), model);
  const server = await start({ models: [root] });
  try {
    const v2 = `${server.url}/v2/models/double`;
    const config = (await json(`${v2}/config`)).body as { input: Array<{ dims: number[]; reshape?: { shape: number[] } }> };
    assert.deepEqual([config.input[0]!.dims, config.input[0]!.reshape], [[1], { shape: [] }]);
    const metadata = (await json(v2)).body as { inputs: Array<{ shape: number[] }>; outputs: Array<{ shape: number[] }> };
    assert.deepEqual([metadata.inputs[0]!.shape, metadata.outputs[0]!.shape], [[-1, 1], [-1, 1]]);
    const answer = (await json(`${v2}/infer`, post({ inputs: [{ name: 'x', shape: [3, 1], datatype: 'FP32', data: [1, 2, 3] }] }))).body as { outputs: Array<{ shape: number[]; data: number[] }> };
    assert.deepEqual([answer.outputs[0]!.shape, answer.outputs[0]!.data], [[3, 1], [2, 4, 6]]);
    assert.deepEqual(await errorOf(`${v2}/infer`, post({ inputs: [{ name: 'x', shape: [3], datatype: 'FP32', data: [1, 2, 3] }] })), [400, "input 'x': shape [3] does not fit the configuration's dims [1] after the batch"]);
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('readiness while a model loads: LOADING in the index and the server not ready until it serves', { timeout: 180_000 }, async () => {
  const slow = slowModelFile();
  const repo = repository({ slow: { versions: { 1: slow.file }, config: 'name: "slow"\nbackend: "onnxruntime"\nmax_batch_size: 8\ninstance_group [{ kind: KIND_CPU, count: 2 }]\n' } });
  const server = await start({ models: [repo.root], modelControlMode: 'explicit' });
  try {
    const v2 = `${server.url}/v2`;
    assert.equal((await fetch(`${v2}/health/ready`)).status, 200, 'nothing to load yet');
    assert.deepEqual((await json(`${v2}/repository/index`, post())).body, [{ name: 'slow' }]);
    const loading = fetch(`${v2}/repository/models/slow/load`, post());
    const seen = new Set<string>();
    let readyWhileLoading = false;
    await waitFor('the load to be seen', async () => {
      const rows = (await json(`${v2}/repository/index`, post())).body as Array<{ state?: string }>;
      const state = rows[0]?.state ?? '';
      // Ready between two looks that both saw it loading: ready while it loads.
      if (state === 'LOADING' && (await fetch(`${v2}/health/ready`)).status === 200) {
        const again = ((await json(`${v2}/repository/index`, post())).body as Array<{ state?: string }>)[0]?.state;
        if (again === 'LOADING') readyWhileLoading = true;
      }
      seen.add(state);
      return state === 'READY';
    });
    assert.ok(seen.has('LOADING'), `states seen: ${[...seen].join(', ')}`);
    assert.equal(readyWhileLoading, false, 'not ready while a model that should be loaded loads');
    assert.equal((await loading).status, 200);
    assert.equal((await fetch(`${v2}/health/ready`)).status, 200);
  } finally {
    await server.close();
    repo.remove();
    slow.remove();
  }
});
