/** `onnx-parallelize run`: inputs from .npy files, a ParallelSession run, outputs written as .npy files. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { InputError } from '../../errors.js';
import { npyFromTensor, readNpy } from '../../io/npy.js';
import { ParallelSession, type ParallelSessionOptions } from './parallel-session.js';

export interface RunFilesResult {
  devices: readonly string[];
  /** Why these devices, when a plain model was given none. */
  deviceNote?: string;
  milliseconds: number;
  outputs: Array<{ name: string; file: string; type: string; dims: number[] }>;
}

/** A file name for an output name (ONNX names may hold '/', ':' and other characters). */
export function outputFileName(name: string): string {
  return `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.npy`;
}

export async function runFiles(model: string, inputs: Record<string, string>, outputDir: string, options: ParallelSessionOptions): Promise<RunFilesResult> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, file] of Object.entries(inputs)) feeds[name] = await readNpy(file);
  const session = await ParallelSession.create(model, options);
  try {
    for (const name of Object.keys(feeds)) if (!session.inputNames.includes(name)) throw new InputError(`--input ${name}: the model has no input named '${name}' (its inputs: ${session.inputNames.join(', ')})`);
    for (const name of session.inputNames) if (!(name in feeds)) throw new InputError(`--input ${name}=FILE.npy is missing (the model's inputs: ${session.inputNames.join(', ')})`);
    const start = performance.now();
    const results = await session.run(feeds);
    const milliseconds = performance.now() - start;
    await fs.mkdir(outputDir, { recursive: true });
    const outputs: RunFilesResult['outputs'] = [];
    for (const [name, tensor] of Object.entries(results)) {
      const file = path.join(outputDir, outputFileName(name));
      const temp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(temp, npyFromTensor(tensor));
      await fs.rename(temp, file);
      outputs.push({ name, file, type: tensor.type, dims: [...tensor.dims] });
    }
    return { devices: session.devices, ...(session.deviceNote === undefined ? {} : { deviceNote: session.deviceNote }), milliseconds, outputs };
  } finally {
    await session.release();
  }
}
