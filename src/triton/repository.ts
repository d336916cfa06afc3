/**
 * Writing a Triton model-repository entry, the file edge of `onnx-parallelize triton`: DIR/NAME/config.pbtxt and
 * DIR/NAME/1/model.onnx (the original model's bytes, with its external-data files beside it), and optionally a
 * KServe manifest. Everything is written under temporary names first and renamed into place at the end; on any
 * error nothing is left behind (not even a repository folder this call created).
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { InputError, messageOf } from '../errors.js';
import { externalReferences, insideFolder } from '../io/external-data.js';
import { loadModel, tempPathFor } from '../io/files.js';
import type { ModelProto } from '../onnx.js';
import { describeTritonModel, type TritonOptions, type TritonReport } from './config.js';
import { kserveManifest } from './kserve.js';
import { defaultModelName } from './names.js';
import { formatModelConfig } from './pbtxt.js';

export const DEFAULT_REPOSITORY = 'model_repository';
const MODEL_FILE = 'model.onnx';
const VERSION = '1';

export interface TritonEntryOptions extends Omit<TritonOptions, 'name'> {
  /** The model's folder in the repository (the file's stem made safe by default). */
  name?: string;
  /** The model repository (DEFAULT_REPOSITORY by default); created when missing. */
  repository?: string;
  /** Also write a KServe InferenceService manifest to `file`, fetching the repository from `storageUri`. */
  kserve?: { file: string; storageUri: string };
  /** Replace an existing entry (and manifest). */
  force?: boolean;
}

export interface TritonEntryResult {
  /** DIR/NAME. */
  entry: string;
  /** Every file written, relative to the repository. */
  files: string[];
  /** Whether an existing entry was replaced (--force). */
  replaced: boolean;
  kserve: { file: string; serviceName: string; gpus: number } | null;
  report: TritonReport;
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(
    () => true,
    () => false,
  );
}

/** Makes the repository folder; returns the top folder this call created (to remove on failure), if any. */
async function makeRepository(repository: string): Promise<string | undefined> {
  const stat = await fs.stat(repository).catch(() => undefined);
  if (stat !== undefined) {
    if (!stat.isDirectory()) throw new InputError(`--repo ${repository}: not a folder`);
    return undefined;
  }
  try {
    return await fs.mkdir(repository, { recursive: true });
  } catch (error) {
    throw new InputError(`--repo ${repository}: cannot create the folder (${messageOf(error)})`);
  }
}

/** Copies the model file and its external-data files into `versionFolder`; returns the copied locations. */
async function copyModel(model: ModelProto, modelPath: string, versionFolder: string): Promise<string[]> {
  const sourceFolder = path.resolve(path.dirname(modelPath));
  const copy = fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE;
  await fs.copyFile(modelPath, path.join(versionFolder, MODEL_FILE), copy);
  const locations = [...new Set(externalReferences(model, modelPath).map((r) => path.normalize(r.location)))];
  for (const location of locations) {
    if (location === MODEL_FILE) throw new InputError(`${modelPath}: its external data is stored in a file named ${MODEL_FILE}, the name Triton gives the model itself; rename the side file`);
    const source = path.join(sourceFolder, location);
    if (!(await insideFolder(source, sourceFolder).catch(() => false))) throw new InputError(`${source}: external data of ${modelPath} is missing or lies outside the model's folder`);
    const target = path.join(versionFolder, location);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(source, target, copy);
  }
  return locations;
}

export async function writeTritonEntry(modelPath: string, options: TritonEntryOptions): Promise<TritonEntryResult> {
  const name = options.name ?? defaultModelName(modelPath);
  const repository = options.repository ?? DEFAULT_REPOSITORY;
  const entry = path.join(repository, name);
  const force = options.force === true;

  const model = await loadModel(modelPath);
  const { config, report } = describeTritonModel(model, { ...options, name });
  const manifest = options.kserve === undefined ? undefined : kserveManifest({ modelName: name, storageUri: options.kserve.storageUri, instanceGroups: config.instanceGroup });
  const manifestFile = options.kserve?.file;

  const replaced = await exists(entry);
  if (replaced && !force) throw new InputError(`${entry}: the model repository has this entry already; give --force to replace it, or another --name`);
  if (manifestFile !== undefined) {
    if (await exists(manifestFile) && !force) throw new InputError(`${manifestFile}: the file exists; give --force to replace it, or another --kserve path`);
    // The manifest may go into the repository itself, which this call creates when it is new.
    const manifestFolder = path.resolve(path.dirname(manifestFile));
    const folderExists = await fs.stat(manifestFolder).then((s) => s.isDirectory(), () => false);
    if (!folderExists && manifestFolder !== path.resolve(repository)) throw new InputError(`--kserve ${manifestFile}: the folder ${path.dirname(manifestFile)} does not exist`);
  }

  const createdRepository = await makeRepository(repository);
  const tempEntry = tempPathFor(entry);
  const tempManifest = manifestFile === undefined ? undefined : tempPathFor(manifestFile);
  const backup = replaced ? tempPathFor(entry) : undefined;
  let movedAway = false;
  let movedIn = false;
  try {
    await fs.mkdir(path.join(tempEntry, VERSION), { recursive: true });
    await fs.writeFile(path.join(tempEntry, 'config.pbtxt'), formatModelConfig(config), { flag: 'wx' });
    const sideFiles = await copyModel(model, modelPath, path.join(tempEntry, VERSION));
    if (tempManifest !== undefined) await fs.writeFile(tempManifest, manifest!.yaml, { flag: 'wx' });

    if (backup !== undefined) {
      await fs.rename(entry, backup);
      movedAway = true;
    }
    await fs.rename(tempEntry, entry);
    movedIn = true;
    if (tempManifest !== undefined) await fs.rename(tempManifest, manifestFile!);
    // The new entry is in place: the old one goes, and failing to remove it does not undo the new one.
    if (backup !== undefined) await fs.rm(backup, { recursive: true, force: true }).catch(() => undefined);
    return {
      entry,
      files: ['config.pbtxt', ...[MODEL_FILE, ...sideFiles].map((f) => path.join(VERSION, f))].map((f) => path.join(name, f)),
      replaced,
      kserve: manifest === undefined ? null : { file: manifestFile!, serviceName: manifest.serviceName, gpus: manifest.gpus },
      report,
    };
  } catch (error) {
    if (movedIn) await fs.rm(entry, { recursive: true, force: true });
    if (movedAway) await fs.rename(backup!, entry);
    await fs.rm(tempEntry, { recursive: true, force: true });
    if (tempManifest !== undefined) await fs.rm(tempManifest, { force: true });
    if (createdRepository !== undefined) await fs.rm(createdRepository, { recursive: true, force: true });
    if (error instanceof InputError) throw error;
    throw new InputError(`${entry}: cannot write the model repository entry (${messageOf(error)})`, { cause: error });
  }
}
