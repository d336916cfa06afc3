/**
 * External data (ONNX docs/ExternalData.md): tensors whose bytes live in a side file next to the model.
 * Loading only checks and remembers the references; it never reads the side files.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TensorProto_DataLocation, type ModelProto, type TensorProto } from '../onnx.js';
import { InputError } from '../errors.js';
import { forEachTensor } from '../graph/walk.js';

export interface ExternalReference {
  tensor: TensorProto;
  location: string;
  offset: bigint;
  length: bigint | undefined;
}

/** Where each externally stored tensor was loaded from: the folder its `location` is relative to. */
const sourceFolders = new WeakMap<TensorProto, string>();

export function externalReference(tensor: TensorProto): ExternalReference | undefined {
  if (tensor.dataLocation !== TensorProto_DataLocation.EXTERNAL) return undefined;
  const entry = (key: string): string | undefined => tensor.externalData.find((e) => e.key === key)?.value;
  const length = entry('length');
  return {
    tensor,
    location: entry('location') ?? '',
    offset: BigInt(entry('offset') ?? '0'),
    length: length === undefined ? undefined : BigInt(length),
  };
}

/** Every external reference of the model, each checked to stay inside the model's folder. */
export function externalReferences(model: ModelProto, source: string): ExternalReference[] {
  const references: ExternalReference[] = [];
  forEachTensor(model, (tensor) => {
    const reference = externalReference(tensor);
    if (reference === undefined) return;
    checkLocation(reference, source);
    references.push(reference);
  });
  return references;
}

function checkLocation(reference: ExternalReference, source: string): void {
  const { location, tensor } = reference;
  const what = `${source}: tensor '${tensor.name}' has external data location '${location}'`;
  if (location === '') throw new InputError(`${source}: tensor '${tensor.name}' is stored externally but names no location`);
  if (path.isAbsolute(location) || /^[a-zA-Z]:/.test(location)) {
    throw new InputError(`${what}, an absolute path; locations must be relative to the model's folder`);
  }
  if (location.split(/[\\/]/).includes('..')) {
    throw new InputError(`${what}, which leaves the model's folder ('..' is not allowed)`);
  }
}

export function rememberSourceFolder(references: ExternalReference[], folder: string): void {
  for (const { tensor } of references) sourceFolders.set(tensor, folder);
}

/** The folder a tensor's external location is relative to, or undefined for tensors not loaded from a file. */
export function sourceFolderOf(tensor: TensorProto): string | undefined {
  return sourceFolders.get(tensor);
}

export function setLocation(tensor: TensorProto, location: string): void {
  const entry = tensor.externalData.find((e) => e.key === 'location');
  if (entry !== undefined) entry.value = location;
}

/** Whether `file` exists and, links resolved, lies inside `folder`. */
export async function insideFolder(file: string, folder: string): Promise<boolean> {
  const [realFile, realFolder] = await Promise.all([fs.realpath(file), fs.realpath(folder)]);
  const relative = path.relative(realFolder, realFile);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** A copy of an external tensor keeps resolving against the folder of the tensor it was copied from. */
export function inheritSourceFolder(from: TensorProto, to: TensorProto): void {
  const folder = sourceFolders.get(from);
  if (folder !== undefined) sourceFolders.set(to, folder);
}
