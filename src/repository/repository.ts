/**
 * Reading a Triton model repository, ROOT/NAME/VERSION/model.onnx with ROOT/NAME/config.pbtxt optional, as Triton
 * does for ONNX models: the configuration is read (or taken from a load request's override), models of other
 * backends are skipped with the reason, the name must equal the folder's, the versions follow the version policy,
 * and the configuration is completed from the model where it lists no inputs or outputs, then normalized.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError, messageOf } from '../errors.js';
import { instanceGroups } from '../triton/config.js';
import { defaultModelName } from '../triton/names.js';
import { autoComplete, describeModelFile, needsAutoComplete } from './auto-complete.js';
import { configMismatch } from './config-check.js';
import { configProblem } from './config-validate.js';
import { supportedGpus } from './gpus.js';
import { modelConfigFromJson, parseModelConfig, type ModelConfig, type ModelInstanceGroupConfig } from './model-config.js';
import { ModelLoadError, type ModelSource } from './model-source.js';
import { completeBackendFields, normalizeConfig, otherBackend } from './normalize.js';
import { writeOverrideEntry } from './override.js';
import { describePolicy, versionFolders, versionsToLoad } from './versions.js';

export const CONFIG_FILE = 'config.pbtxt';

export interface RepositoryScan {
  models: ModelSource[];
  /** Models of other backends or platforms, by name, with the reason. */
  skipped: Array<{ name: string; reason: string }>;
  /** Models that cannot be loaded (a bad configuration, a missing or unreadable model), with the reason. */
  failed: Array<{ name: string; reason: string }>;
}

export interface LoadOverride {
  /** A ModelConfig in Triton's JSON mapping (the load request's `parameters.config`). */
  config?: string;
  /** `file:VERSION/PATH` (or `VERSION/PATH`) to the file's bytes; needs `config`. */
  files?: Record<string, Uint8Array>;
}

/**
 * The configuration completed from the model file (where it lists no inputs or outputs), normalized, and checked
 * as Triton checks it and against the model as Triton's backend does. The latest version's file is read: it is the one Triton's
 * backend completes a configuration from when a model has one version, and versions of one model share it.
 */
async function completeFromModel(given: ModelConfig, modelFile: string): Promise<Pick<ModelSource, 'config' | 'signature'>> {
  const described = await describeModelFile(modelFile);
  const completed = needsAutoComplete(given) ? autoComplete(given, described) : given;
  // A rewritten model runs on the devices it was rewritten for, unless the configuration places it.
  const config = (completed.instance_group ?? []).length === 0 && described.planDevices !== undefined ? { ...completed, instance_group: instanceGroupsOf(described.planDevices) } : completed;
  const normalized = normalizeConfig(config, await supportedGpus());
  const problem = configProblem(normalized) ?? configMismatch(normalized, described);
  if (problem !== undefined) throw new InputError(problem);
  return { config: normalized, signature: described.signature };
}

/** Instance groups for a list of devices (a repeated device adds an instance), in the configuration's form. */
function instanceGroupsOf(devices: readonly string[]): ModelInstanceGroupConfig[] {
  return instanceGroups([...devices], devices.map(() => 1)).map((g) => ({ kind: g.kind, count: g.count, ...(g.gpus.length === 0 ? {} : { gpus: g.gpus }) }));
}

type EntryResult = { kind: 'model'; model: ModelSource } | { kind: 'skipped'; reason: string };

const isFolder = (p: string): Promise<boolean> => fs.stat(p).then((s) => s.isDirectory(), () => false);
const isFile = (p: string): Promise<boolean> => fs.stat(p).then((s) => s.isFile(), () => false);

async function readConfigFile(file: string): Promise<ModelConfig | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(`${file}: cannot read (${messageOf(error)})`);
  }
  return parseModelConfig(text, file);
}

/** Reads one model folder; throws (with the reason, without the model's name) when it cannot be loaded. */
async function readEntry(entry: string, name: string, override: ModelConfig | undefined): Promise<EntryResult> {
  const configFile = path.join(entry, CONFIG_FILE);
  const given = override ?? (await readConfigFile(configFile));
  const { versions: existing, ignored } = await versionFolders(entry);
  const firstVersionFiles = existing.length === 0 ? [] : await fs.readdir(path.join(entry, String(existing[0]))).catch(() => []);
  const other = otherBackend(given ?? {}, firstVersionFiles);
  if (other !== undefined) return { kind: 'skipped', reason: other };

  const config = completeBackendFields(given ?? {}, name);
  if (config.name !== name) throw new Error(`unexpected directory name '${name}' for model '${config.name}', directory name must equal model name`);
  const { versions, missing } = versionsToLoad(existing, config.version_policy);
  if (missing.length > 0) throw new Error(`version ${missing.join(', ')} is specified (version_policy) but the version folder is not present in ${entry}`);
  if (versions.length === 0) {
    const found = existing.length === 0 ? `no version folder in ${entry} (a folder named by a positive whole number holding ${config.default_model_filename})${ignored.length > 0 ? `; ignored: ${ignored.join(', ')}` : ''}` : `versions ${existing.join(', ')} found, none chosen by the policy (${describePolicy(config.version_policy)})`;
    throw new Error(`no version is available: ${found}`);
  }
  const sources = versions.map((v) => ({ version: String(v), modelFile: path.join(entry, String(v), config.default_model_filename!) }));
  for (const source of sources) {
    if (!(await isFile(source.modelFile))) throw new Error(`version ${source.version} has no model file ${source.modelFile} (default_model_filename '${config.default_model_filename}')`);
  }
  const completed = await completeFromModel(config, sources.at(-1)!.modelFile);
  return { kind: 'model', model: { name, versions: sources, ...completed, ...(override === undefined && given !== undefined ? { configFile } : {}) } };
}

/** Every model of the repository ROOT: loadable models, models of other backends (skipped), and failures. */
export async function scanRepository(root: string): Promise<RepositoryScan> {
  let dirents;
  try {
    dirents = await fs.readdir(root, { withFileTypes: true });
  } catch (error) {
    throw new InputError(`${root}: cannot read the model repository (${messageOf(error)})`);
  }
  const scan: RepositoryScan = { models: [], skipped: [], failed: [] };
  const names = [];
  for (const d of dirents) {
    // Hidden folders (.git, a writer's temporary folders) are not models.
    if (d.name.startsWith('.')) continue;
    if (d.isDirectory() || (d.isSymbolicLink() && (await isFolder(path.join(root, d.name))))) names.push(d.name);
  }
  for (const name of names.sort()) {
    try {
      const result = await readEntry(path.join(root, name), name, undefined);
      if (result.kind === 'model') scan.models.push(result.model);
      else scan.skipped.push({ name, reason: result.reason });
    } catch (error) {
      scan.failed.push({ name, reason: messageOf(error) });
    }
  }
  return scan;
}

/**
 * One model of the repository ROOT, for a load request: with the configuration override (JSON) and file overrides
 * when given (the files make the model's folder, in a temporary folder that `cleanup` removes). Throws a
 * ModelLoadError ("failed to load 'NAME': ...") when it cannot be loaded, skipped models included.
 */
export async function readRepositoryModel(root: string, name: string, override: LoadOverride = {}): Promise<ModelSource> {
  const files = override.files ?? {};
  const hasFiles = Object.keys(files).length > 0;
  if (hasFiles && override.config === undefined) throw new ModelLoadError(name, `file overrides (${Object.keys(files).join(', ')}) need the config override too: give parameters.config, the configuration of the model they make`);
  const config = override.config === undefined ? undefined : modelConfigFromJson(override.config, `failed to load '${name}': parameters.config`);
  if (!hasFiles && (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..' || !(await isFolder(path.join(root, name))))) {
    throw new ModelLoadError(name, `no model '${name}' in the model repository ${root}`);
  }
  const written = hasFiles ? await writeOverrideEntry(name, files) : undefined;
  try {
    const result = await readEntry(written?.entry ?? path.join(root, name), name, config);
    if (result.kind === 'skipped') throw new ModelLoadError(name, result.reason);
    return written === undefined ? result.model : { ...result.model, cleanup: written.cleanup };
  } catch (error) {
    await written?.cleanup();
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(name, messageOf(error));
  }
}

/**
 * A lone ONNX file as a model source: named by its stem (or `given.name`), version 1, its configuration completed
 * from the model. `given` is a configuration to start from, as a config.pbtxt would give it (a server's options:
 * `max_batch_size`, `instance_group`, `dynamic_batching`, ...).
 */
export async function modelFromFile(file: string, given: ModelConfig = {}): Promise<ModelSource> {
  const name = given.name === undefined || given.name === '' ? defaultModelName(file) : given.name;
  if (!(await isFile(file))) throw new InputError(`${file}: no such model file`);
  const completed = await completeFromModel(completeBackendFields({ default_model_filename: path.basename(file), ...given }, name), file);
  return { name, versions: [{ version: '1', modelFile: file }], ...completed };
}

/**
 * What changes when a model of the repository changes, for polling (Triton's --model-control-mode=poll reloads a
 * model whose files changed): the path, size and modification time of every file under ROOT/NAME, or undefined
 * when the folder is gone.
 */
export async function modelFingerprint(root: string, name: string): Promise<string | undefined> {
  const entries: string[] = [];
  const walk = async (folder: string, relative: string): Promise<void> => {
    const dirents = await fs.readdir(folder, { withFileTypes: true });
    for (const d of dirents.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = path.join(folder, d.name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat === undefined) continue;
      if (stat.isDirectory()) await walk(file, `${relative}${d.name}/`);
      else entries.push(`${relative}${d.name}:${stat.size}:${stat.mtimeMs}`);
    }
  };
  try {
    await walk(path.join(root, name), '');
  } catch {
    return undefined;
  }
  return entries.join('\n');
}
