/** The main job on files: load, rewrite, optionally verify, then save atomically (nothing is written on failure or when not verified). */
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { InputError } from './errors.js';
import { loadModel, saveModel } from './io/files.js';
import { parallelize, type ParallelizeReport } from './transform/parallelize.js';
import type { ParallelizeOptions } from './transform/options.js';
import type { VerifyResult } from './verify/verify.js';

export interface ParallelizeFileOptions extends ParallelizeOptions {
  /** Where to write; `<stem>.parallel.onnx` beside the input by default. */
  output?: string;
  verify?: boolean;
  /** Real inputs for --verify, by input name: .npy paths. */
  verifyInputs?: Record<string, string>;
  copyExternalData?: boolean;
}

export interface ParallelizeFileResult {
  output: string;
  written: boolean;
  report: ParallelizeReport;
  verify?: VerifyResult;
}

export function defaultOutputPath(input: string): string {
  const parsed = path.parse(input);
  return path.join(parsed.dir, `${parsed.ext === '.onnx' ? parsed.name : parsed.base}.parallel.onnx`);
}

export async function parallelizeFile(input: string, options: ParallelizeFileOptions): Promise<ParallelizeFileResult> {
  const output = options.output ?? defaultOutputPath(input);
  if (path.resolve(output) === path.resolve(input)) throw new InputError(`${output}: the output would overwrite the input model; choose another path with -o`);
  const model = await loadModel(input);
  const result = parallelize(model, options);
  let verify: VerifyResult | undefined;
  if (options.verify === true || options.verifyInputs !== undefined) {
    // onnxruntime is loaded only when verifying: a plain rewrite never needs it.
    const [{ readNpy }, { verifyParallel }] = await Promise.all([import('./io/npy.js'), import('./verify/verify.js')]);
    const samples: Record<string, ort.Tensor> = {};
    for (const [name, file] of Object.entries(options.verifyInputs ?? {})) {
      if (!model.graph!.input.some((i) => i.name === name)) throw new InputError(`--verify-input ${name}: the model has no input named '${name}'`);
      samples[name] = await readNpy(file);
    }
    verify = await verifyParallel(model, result, Object.keys(samples).length > 0 ? { samples } : {});
    // A mismatch, or nothing compared across replicas: either way the rewrite is not known to be right.
    if (!verify.verified) return { output, written: false, report: result.report, verify };
  }
  await saveModel(result.model, output, options.copyExternalData === true ? { copyExternalData: true } : {});
  return { output, written: true, report: result.report, ...(verify === undefined ? {} : { verify }) };
}
