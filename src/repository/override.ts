/**
 * A load request's `file:VERSION/PATH` overrides (Triton's repository extension): the files are written into a
 * fresh temporary folder laid out as a repository entry, `TMP/NAME/VERSION/PATH`, removed by the cleanup function
 * returned (and at once when writing fails), so nothing is left behind.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { ModelLoadError } from './model-source.js';

export interface OverrideEntry {
  /** TMP/NAME: the model's folder, laid out as in a repository. */
  entry: string;
  cleanup: () => Promise<void>;
}

/** `1/model.onnx` from `file:1/model.onnx` or `1/model.onnx`; throws for a path that leaves the folder or has no version. */
function overridePath(name: string, key: string): string {
  const relative = key.startsWith('file:') ? key.slice('file:'.length) : key;
  const parts = relative.split('/');
  if (relative === '' || path.isAbsolute(relative) || relative.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModelLoadError(name, `file override '${key}': give a relative path VERSION/FILE inside the model's folder, such as file:1/model.onnx`);
  }
  if (parts.length < 2 || !/^[1-9]\d*$/.test(parts[0]!)) throw new ModelLoadError(name, `file override '${key}': the path must start with a version folder (a positive whole number), such as file:1/model.onnx`);
  return relative;
}

export async function writeOverrideEntry(name: string, files: Readonly<Record<string, Uint8Array>>): Promise<OverrideEntry> {
  const relatives = Object.keys(files).map((key) => [overridePath(name, key), files[key]!] as const);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'onnx-parallelize-load-'));
  const cleanup = (): Promise<void> => fs.rm(root, { recursive: true, force: true });
  try {
    const entry = path.join(root, name);
    for (const [relative, bytes] of relatives) {
      const target = path.join(entry, ...relative.split('/'));
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, bytes, { flag: 'wx' });
    }
    return { entry, cleanup };
  } catch (error) {
    await cleanup();
    throw new ModelLoadError(name, `cannot write the file overrides to a temporary folder (${messageOf(error)})`);
  }
}
