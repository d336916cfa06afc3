/**
 * The bodies of the model repository extension's HTTP requests, read into the core's terms: the index's
 * `{"ready": bool}`, the load's `{"parameters": {"config": "<JSON>", "file:PATH": "<base64>"}}` and the unload's
 * `{"parameters": {"unload_dependents": bool}}`. All are optional; a body that does not fit is a 400 naming the field.
 */
import type { LoadOverride } from '../core/core.js';
import { isRecord } from '../core/decode.js';
import { invalidRequest } from '../core/errors.js';

function parseObject(body: Buffer, what: string): Record<string, unknown> {
  if (body.byteLength === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw invalidRequest(`the ${what} request's JSON does not parse: ${(error as Error).message}`);
  }
  if (!isRecord(value)) throw invalidRequest(`the ${what} request must be a JSON object`);
  return value;
}

function parametersOf(body: Record<string, unknown>, what: string): Record<string, unknown> {
  const parameters = body['parameters'];
  if (parameters === undefined) return {};
  if (!isRecord(parameters)) throw invalidRequest(`the ${what} request's "parameters" must be an object`);
  return parameters;
}

/** The index request's `ready`: list only the versions ready to infer. */
export function indexRequest(body: Buffer): boolean {
  const ready = parseObject(body, 'index')['ready'];
  if (ready !== undefined && typeof ready !== 'boolean') throw invalidRequest(`"ready" must be true or false, got ${JSON.stringify(ready)}`);
  return ready === true;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The load request's overrides: a configuration (JSON text) and files by their path in the model's folder. */
export function loadRequest(body: Buffer): LoadOverride | undefined {
  const parameters = parametersOf(parseObject(body, 'load'), 'load');
  const override: LoadOverride = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (key === 'config') {
      if (typeof value !== 'string') throw invalidRequest('parameters.config must be a string: the JSON of a model configuration');
      override.config = value;
    } else if (key.startsWith('file:')) {
      if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value)) throw invalidRequest(`parameters["${key}"] must be the file's bytes in base64`);
      (override.files ??= {})[key.slice('file:'.length)] = Buffer.from(value, 'base64');
    }
  }
  return override.config === undefined && override.files === undefined ? undefined : override;
}

/** Checks the unload request (`unload_dependents` is accepted: no model served here depends on another). */
export function unloadRequest(body: Buffer): void {
  const dependents = parametersOf(parseObject(body, 'unload'), 'unload')['unload_dependents'];
  if (dependents !== undefined && typeof dependents !== 'boolean') throw invalidRequest(`parameters.unload_dependents must be true or false, got ${JSON.stringify(dependents)}`);
}
