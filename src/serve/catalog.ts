/**
 * The models a server is given, by name: each PATH an .onnx file served as one model (its name the file's stem,
 * or `name`), version 1, on the session options given.
 */
import { statSync } from 'node:fs';
import { ArgumentError, InputError } from '../errors.js';
import type { ParallelSessionOptions } from '../runtime/session/parallel-session.js';
import { checkModelName, defaultModelName } from '../triton/names.js';
import type { LoadOverride, ModelCatalog, ModelLoad } from './core/core.js';
import { ServeError } from './core/errors.js';
import type { InferenceBackend } from './core/served-version.js';

export interface CatalogOptions {
  /** .onnx files. */
  paths: readonly string[];
  /** The model's name, for one .onnx file. */
  name?: string;
  /** Session options of every model. */
  session?: ParallelSessionOptions;
  /** Runs the one model given instead of a ParallelSession. */
  backend?: InferenceBackend;
}

function stampOf(file: string): string | undefined {
  try {
    const stat = statSync(file);
    return `${stat.size}:${stat.mtimeMs}`;
  } catch {
    return undefined;
  }
}

export function modelCatalog(options: CatalogOptions): ModelCatalog {
  if (options.paths.length === 0) throw new ArgumentError('give at least one model: an .onnx file or a model repository folder');
  if (options.name !== undefined && options.paths.length !== 1) throw new ArgumentError('a model name can be given for one .onnx file only');
  if (options.backend !== undefined && options.paths.length !== 1) throw new ArgumentError('options.backend runs one model: give one .onnx file');
  const files = new Map<string, string>();
  for (const file of options.paths) {
    const name = options.name ?? defaultModelName(file);
    checkModelName(name);
    if (files.has(name)) throw new InputError(`two models are named '${name}': ${files.get(name)} and ${file}; rename one of the files`);
    files.set(name, file);
  }
  return {
    names: async () => [...files.keys()],
    read: async (name: string, override?: LoadOverride): Promise<ModelLoad> => {
      const file = files.get(name);
      if (file === undefined) throw new ServeError('not_found', `failed to load '${name}', no version is available`);
      if (override !== undefined) throw new ServeError('invalid', `failed to load '${name}': a model given as an .onnx file takes no configuration or file overrides`);
      return {
        stamp: stampOf(file) ?? '',
        versions: [{ name, version: '1', modelFile: file, ...(options.session === undefined ? {} : { session: options.session }), ...(options.backend === undefined ? {} : { backend: options.backend }) }],
      };
    },
    stamp: async (name) => {
      const file = files.get(name);
      return file === undefined ? undefined : stampOf(file);
    },
  };
}
