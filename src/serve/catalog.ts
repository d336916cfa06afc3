/**
 * The models a server is given, by name: each PATH an .onnx file (one model, named by its stem or `name`,
 * version 1, on the session options given) or a Triton model repository folder (its models, read by
 * src/repository: versions, configuration, skips). A repository model runs on the ParallelSession options its
 * configuration says (instance groups, dynamic batching, queue, CUDA parameters) over the options given.
 */
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { ArgumentError, InputError, messageOf } from '../errors.js';
import { metadataOf, ModelLoadError, modelFingerprint, readRepositoryModel, scanRepository, servingPolicyOf, sessionOptionsOf, tritonConfigJson, type ModelSource } from '../repository/index.js';
import type { ParallelSessionOptions } from '../runtime/session/parallel-session.js';
import { checkModelName, defaultModelName } from '../triton/names.js';
import type { LoadOverride, ModelCatalog, ModelLoad } from './core/core.js';
import type { InferenceBackend, VersionSpec } from './core/served-version.js';

export interface CatalogOptions {
  /** .onnx files and model repository folders. */
  paths: readonly string[];
  /** The model's name, for one .onnx file. */
  name?: string;
  /** Session options of every model (a repository model's configuration sets its devices and batching). */
  session?: ParallelSessionOptions;
  /** Runs the one .onnx model given instead of a ParallelSession. */
  backend?: InferenceBackend;
}

/** A model of another backend in a repository, left out. */
export interface SkippedModel {
  name: string;
  reason: string;
}

export interface Catalog extends ModelCatalog {
  /** Models of other backends found by the last look at the repositories. */
  readonly skipped: SkippedModel[];
}

function isFolder(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** A token of a file's or folder's contents two levels down (sizes and modification times). */
async function stampOf(file: string, depth = 2): Promise<string | undefined> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    return undefined;
  }
  if (!stat.isDirectory()) return `${stat.size}:${stat.mtimeMs}`;
  if (depth === 0) return `${stat.mtimeMs}`;
  const names = (await fs.readdir(file).catch(() => [])).sort();
  const parts = await Promise.all(names.map(async (n) => `${n}=${(await stampOf(path.join(file, n), depth - 1)) ?? ''}`));
  return `${stat.mtimeMs}[${parts.join(',')}]`;
}

export function modelCatalog(options: CatalogOptions): Catalog {
  if (options.paths.length === 0) throw new ArgumentError('give at least one model: an .onnx file or a model repository folder');
  const roots = options.paths.filter(isFolder);
  const files = new Map<string, string>();
  for (const file of options.paths.filter((p) => !isFolder(p))) {
    const name = options.name ?? defaultModelName(file);
    checkModelName(name);
    if (files.has(name)) throw new InputError(`two models are named '${name}': ${files.get(name)} and ${file}; rename one of the files`);
    files.set(name, file);
  }
  if (options.name !== undefined && (files.size !== 1 || roots.length > 0)) throw new ArgumentError('a model name can be given for one .onnx file only (a repository names its models by their folders)');
  if (options.backend !== undefined && (files.size !== 1 || roots.length > 0)) throw new ArgumentError('options.backend runs one model: give one .onnx file');
  const base = options.session ?? {};
  /** The repository of each model found by the last scan. */
  let rootOf = new Map<string, string>();
  const skipped: SkippedModel[] = [];

  /** Each repository's last scan, kept while the repository's folders and configurations are unchanged. */
  const scans = new Map<string, { stamp: string | undefined; scan: Awaited<ReturnType<typeof scanRepository>> }>();
  const scanOf = async (root: string): Promise<Awaited<ReturnType<typeof scanRepository>>> => {
    const stamp = await stampOf(root);
    const last = scans.get(root);
    if (last !== undefined && stamp !== undefined && last.stamp === stamp) return last.scan;
    const scan = await scanRepository(root);
    scans.set(root, { stamp, scan });
    return scan;
  };

  const scan = async (): Promise<void> => {
    const found = new Map<string, string>();
    skipped.length = 0;
    for (const root of roots) {
      const { models, skipped: others, failed } = await scanOf(root);
      for (const name of [...models.map((m) => m.name), ...failed.map((f) => f.name)]) {
        const other = found.get(name) ?? files.get(name);
        if (other !== undefined) throw new InputError(`two models are named '${name}': in ${other} and in ${root}; serve one of them`);
        found.set(name, root);
      }
      skipped.push(...others);
    }
    rootOf = found;
  };

  const versionsOf = (source: ModelSource): VersionSpec[] => {
    let session: ParallelSessionOptions;
    try {
      session = sessionOptionsOf(source.config, base);
    } catch (error) {
      throw new ModelLoadError(source.name, messageOf(error));
    }
    const config = tritonConfigJson(source.config) as Record<string, unknown>;
    const policy = servingPolicyOf(source.config);
    const metadata = (versions: readonly string[]): Record<string, unknown> => ({ ...metadataOf(source.name, versions, source.config) });
    return source.versions.map((v) => ({ name: source.name, version: v.version, modelFile: v.modelFile, session, config, policy, metadata }));
  };

  return {
    skipped,
    names: async () => {
      await scan();
      return [...files.keys(), ...rootOf.keys()];
    },
    read: async (name: string, override?: LoadOverride): Promise<ModelLoad> => {
      const file = files.get(name);
      if (file !== undefined) {
        if (override !== undefined) throw new ModelLoadError(name, 'a model given as an .onnx file takes no configuration or file overrides; serve it from a model repository');
        return {
          stamp: (await stampOf(file)) ?? '',
          versions: [{ name, version: '1', modelFile: file, ...(options.session === undefined ? {} : { session: options.session }), ...(options.backend === undefined ? {} : { backend: options.backend }) }],
        };
      }
      if (!rootOf.has(name)) await scan();
      const root = rootOf.get(name) ?? roots[0];
      if (root === undefined) throw new ModelLoadError(name, `no model '${name}' is served here (the models: ${[...files.keys()].join(', ')})`);
      const source = await readRepositoryModel(root, name, override);
      try {
        return {
          stamp: override === undefined ? ((await modelFingerprint(root, name)) ?? '') : `override ${Date.now()}`,
          versions: versionsOf(source),
          ...(source.cleanup === undefined ? {} : { cleanup: source.cleanup }),
        };
      } catch (error) {
        await source.cleanup?.();
        throw error;
      }
    },
    stamp: async (name) => {
      const file = files.get(name);
      if (file !== undefined) return stampOf(file);
      const root = rootOf.get(name);
      return root === undefined ? undefined : modelFingerprint(root, name);
    },
  };
}
