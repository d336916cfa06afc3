/**
 * The process's one OrtEnv. onnxruntime keeps a single environment per process, shared by every binding in it
 * (onnxruntime-node's included): CreateEnv returns that one, counted, so it is made once here and never released.
 */
import { ortApi, type Handle } from './library.js';
import { check, Out } from './status.js';

/** ORT_LOGGING_LEVEL_WARNING: as onnxruntime-node's default. */
const WARNING = 2;
let env: Handle | undefined;

export function ortEnv(): Handle {
  if (env !== undefined) return env;
  const api = ortApi();
  const out = new Out();
  check(api, api.CreateEnv(WARNING, 'onnx-parallelize', out.cell));
  env = out.value;
  return env;
}
