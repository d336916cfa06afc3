/**
 * The weights file of a model whose weights its CPU devices share: every large initializer of the main graph,
 * copied into one temporary file, each at an offset aligned for any element type, and the model's bytes with
 * those initializers referring to the file as external data (so that no session parses a copy of them). Both are
 * made by the planning worker, which holds the decoded model; the main thread maps the file (shared-weights.ts)
 * and deletes it as soon as every session is made: the mapping keeps its pages until the sessions are released.
 */
import { promises as fs, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { TensorProto_DataLocation, TensorProto_DataType as DT, type ModelProto, type TensorProto } from '../../onnx.js';
import { externalReference } from '../../io/external-data.js';
import { encodeModel } from '../../io/codec.js';
import { makeEntry } from '../../graph/build.js';
import { withFields } from '../../graph/copy.js';
import { forEachTensor } from '../../graph/walk.js';
import { parseDevice } from '../gpu/providers.js';

/** One initializer in the weights file: its name, ONNX element type, dims and place in the file. */
export interface SharedWeight {
  name: string;
  elementType: number;
  dims: number[];
  offset: number;
  length: number;
}

export interface WeightsFile {
  path: string;
  size: number;
  weights: SharedWeight[];
}

/** Whether this process runs on glibc (mapped-file.ts calls its mmap), as Node's diagnostic report says. */
function onGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime !== undefined;
}

/**
 * Whether the CPU devices among `devices` are to share their weights: two or more, on Linux with glibc (whose
 * mmap maps the weights file). Decided without loading any library, in the planning worker.
 */
export function sharesWeights(devices: readonly string[]): boolean {
  return devices.filter((d) => parseDevice(d).kind === 'cpu').length >= 2 && onGlibc();
}

/** Smaller initializers are left in the model: sharing them saves nothing worth a mapping. */
const SHARED_THRESHOLD = 1024;
const ALIGNMENT = 64;
/** statfs's type of a tmpfs: its files are memory, so mapping one saves nothing. */
const TMPFS_MAGIC = 0x01021994;

/** Where the weights file is written, or undefined where a file there would be memory itself. */
function weightsFolder(): string | undefined {
  const folder = os.tmpdir();
  try {
    return statfsSync(folder).type === TMPFS_MAGIC ? undefined : folder;
  } catch {
    return undefined;
  }
}

/**
 * Writes the large initializers of `model`'s main graph (stored in the model itself, of a numeric element type)
 * into a new temporary file. Undefined where there are none, where the temporary folder is in memory (tmpfs),
 * or where the file cannot be written (no space): the devices then load their own copies, as without sharing.
 */
export async function writeWeightsFile(model: ModelProto): Promise<WeightsFile | undefined> {
  const folder = weightsFolder();
  if (folder === undefined || hasExternalData(model)) return undefined;
  const tensors = (model.graph?.initializer ?? []).filter((t) => externalReference(t) === undefined && t.rawData.byteLength >= SHARED_THRESHOLD && t.dataType !== DT.STRING && t.dataType !== DT.UNDEFINED);
  if (tensors.length === 0) return undefined;
  const file = path.join(folder, `onnx-parallelize-weights-${process.pid}-${randomUUID()}.bin`);
  const weights: SharedWeight[] = [];
  let size = 0;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'wx', 0o600);
    for (const tensor of tensors) {
      const offset = Math.ceil(size / ALIGNMENT) * ALIGNMENT;
      await handle.write(tensor.rawData, 0, tensor.rawData.byteLength, offset);
      weights.push({ name: tensor.name, elementType: tensor.dataType, dims: tensor.dims.map(Number), offset, length: tensor.rawData.byteLength });
      size = offset + tensor.rawData.byteLength;
    }
    await handle.close();
    return { path: file, size, weights };
  } catch {
    await handle?.close().catch(() => undefined);
    await fs.rm(file, { force: true });
    return undefined;
  }
}

/** Whether any tensor of `model` keeps its data in a side file (such a model is loaded by each device as it is). */
function hasExternalData(model: ModelProto): boolean {
  let found = false;
  forEachTensor(model, (tensor) => {
    found ||= externalReference(tensor) !== undefined;
  });
  return found;
}

/**
 * The bytes of `model` with each initializer of `file` referring to its place there as external data: what the
 * sessions are made from (with the file's folder as their external data folder). The model is not changed.
 * Where the bytes cannot be made, the file is deleted.
 */
export function modelReferringTo(model: ModelProto, file: WeightsFile): Uint8Array {
  const places = new Map(file.weights.map((w) => [w.name, w]));
  const location = path.basename(file.path);
  const external = (tensor: TensorProto): TensorProto => {
    const place = places.get(tensor.name);
    if (place === undefined) return tensor;
    return withFields(tensor, {
      rawData: new Uint8Array(0),
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [makeEntry('location', location), makeEntry('offset', String(place.offset)), makeEntry('length', String(place.length))],
    });
  };
  const graph = model.graph!;
  const initializer = graph.initializer;
  graph.initializer = initializer.map(external);
  try {
    return encodeModel(model);
  } catch (error) {
    rmSync(file.path, { force: true });
    throw error;
  } finally {
    graph.initializer = initializer;
  }
}
