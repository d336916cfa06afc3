/** Reading and writing model files: the only place the model I/O touches the file system. */
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ModelProto } from '../onnx.js';
import { InputError, messageOf } from '../errors.js';
import { decodeModel, encodeModelChunks } from './codec.js';
import { externalReferences, insideFolder, rememberSourceFolder, setLocation, sourceFolderOf } from './external-data.js';

/** Reads an existing regular file, with a short error naming the file when it cannot be read. */
export async function readInputFile(file: string): Promise<Buffer> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`${file}: no such file`);
    throw new InputError(`${file}: cannot read (${messageOf(error)})`);
  }
  if (stat.isDirectory()) throw new InputError(`${file}: is a directory; give the path of an .onnx file`);
  if (!stat.isFile()) throw new InputError(`${file}: not a regular file`);
  try {
    return await fs.readFile(file);
  } catch (error) {
    throw new InputError(`${file}: cannot read (${messageOf(error)})`);
  }
}

/**
 * Loads a model. Tensors stored as external data keep their references (the side files are not read);
 * a location that is absolute or leaves the model's folder is refused.
 */
export async function loadModel(file: string): Promise<ModelProto> {
  const bytes = await readInputFile(file);
  const model = decodeModel(bytes, file);
  rememberSourceFolder(externalReferences(model, file), path.resolve(path.dirname(file)));
  return model;
}

export interface SaveOptions {
  /**
   * Copy external-data side files next to the output. Without it, a model saved to another folder
   * refers to the original side files by a relative location, which only works when that location
   * stays inside the output's folder; otherwise saving fails and asks for this option.
   */
  copyExternalData?: boolean;
}

interface PendingFile {
  temp: string;
  target: string;
}

/** A hidden temporary name beside `target`, on the same file system, for writing before an atomic rename. */
export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

async function writeChunks(file: string, chunks: Uint8Array[]): Promise<void> {
  const handle = await fs.open(file, 'wx');
  try {
    const batch = 512;
    for (let i = 0; i < chunks.length; i += batch) {
      const part = chunks.slice(i, i + batch);
      const expected = part.reduce((sum, c) => sum + c.length, 0);
      const { bytesWritten } = await handle.writev(part);
      if (bytesWritten !== expected) {
        // writev may write partially on some systems: finish chunk by chunk.
        let skip = bytesWritten;
        for (const chunk of part) {
          if (skip >= chunk.length) { skip -= chunk.length; continue; }
          await handle.write(chunk.subarray(skip));
          skip = 0;
        }
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * Saves a model atomically: everything is written to temporary files in the target folder, then renamed.
 * A failure leaves no partial output. Large tensor data is written from the loaded buffers without copies.
 */
export async function saveModel(model: ModelProto, file: string, options: SaveOptions = {}): Promise<void> {
  const outFolder = path.resolve(path.dirname(file));
  try {
    if (!(await fs.stat(outFolder)).isDirectory()) throw new Error('not a folder');
  } catch {
    throw new InputError(`${file}: the output folder ${path.dirname(file)} does not exist`);
  }
  const copies = new Map<string, string>(); // target -> source
  const relocated: Array<{ restore: () => void }> = [];
  const pending: PendingFile[] = [];
  try {
    for (const reference of externalReferences(model, file)) {
      const sourceFolder = sourceFolderOf(reference.tensor) ?? outFolder;
      if (sourceFolder === outFolder) continue;
      const source = path.join(sourceFolder, reference.location);
      if (options.copyExternalData === true) {
        if (!(await insideFolder(source, sourceFolder).catch(() => false))) {
          throw new InputError(`${source}: external data of tensor '${reference.tensor.name}' is missing or lies outside the model's folder`);
        }
        copies.set(path.join(outFolder, reference.location), source);
        continue;
      }
      const relative = path.relative(outFolder, source).split(path.sep).join('/');
      if (relative.startsWith('..') || path.isAbsolute(relative)) {
        throw new InputError(
          `${file}: tensor '${reference.tensor.name}' keeps its data in ${source}, which a model in ${outFolder} cannot refer to; ` +
            'save next to the original model, or copy the external data (--copy-external-data)',
        );
      }
      const original = reference.location;
      setLocation(reference.tensor, relative);
      relocated.push({ restore: () => setLocation(reference.tensor, original) });
    }
    const chunks = encodeModelChunks(model);
    for (const { restore } of relocated.splice(0)) restore();

    for (const [target, source] of copies) {
      const temp = tempPathFor(target);
      await fs.mkdir(path.dirname(target), { recursive: true });
      pending.push({ temp, target });
      await fs.copyFile(source, temp, fsConstants.COPYFILE_EXCL);
    }
    const temp = tempPathFor(file);
    pending.push({ temp, target: file });
    await writeChunks(temp, chunks);
    for (const { temp: from, target } of pending) await fs.rename(from, target);
    pending.length = 0;
  } catch (error) {
    for (const { restore } of relocated) restore();
    await Promise.all(pending.map(({ temp }) => fs.rm(temp, { force: true })));
    if (error instanceof InputError) throw error;
    throw new InputError(`${file}: cannot write (${messageOf(error)})`, { cause: error });
  }
}
