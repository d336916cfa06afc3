/** Execution providers per device, and an early, readable check that the CUDA provider is installed. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { ArgumentError } from '../errors.js';

/** Where onnxruntime-node loads its native binding and provider libraries from. */
export function bindingFolder(): string {
  const packageJson = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return path.join(path.dirname(packageJson), 'bin', 'napi-v6', process.platform, process.arch);
}

const cudaLibraries = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];

/** Why the CUDA provider cannot load, or undefined when its libraries are in place. */
export function missingCudaProvider(folder = bindingFolder()): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const missing = cudaLibraries.filter((lib) => !existsSync(path.join(folder, lib)));
  if (missing.length === 0) return undefined;
  return (
    `the CUDA execution provider is not installed: ${missing.join(' and ')} missing in ${folder}. ` +
    'Install it on a machine with CUDA 12 and cuDNN 9: node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12'
  );
}

export function parseDevice(device: string): { kind: 'cpu' } | { kind: 'cuda'; id: number } {
  if (device === 'cpu') return { kind: 'cpu' };
  const match = /^cuda:(\d+)$/.exec(device);
  if (match === null) throw new ArgumentError(`options.devices: '${device}' is not a device; use cuda:K or cpu`);
  return { kind: 'cuda', id: Number(match[1]) };
}

/** Session options for one device: CUDA with its device id, or the CPU with one intra-op thread unless told otherwise. */
export function deviceSessionOptions(device: string, base: ort.InferenceSession.SessionOptions = {}): ort.InferenceSession.SessionOptions {
  const parsed = parseDevice(device);
  if (parsed.kind === 'cuda') return { ...base, executionProviders: [{ name: 'cuda', deviceId: parsed.id }] };
  return { intraOpNumThreads: 1, interOpNumThreads: 1, ...base, executionProviders: ['cpu'] };
}

/**
 * Why the installed CUDA provider library cannot be loaded, in the dynamic loader's words (onnxruntime only says
 * "Failed to load shared library"): usually a CUDA or cuDNN library it needs that is not on LD_LIBRARY_PATH.
 */
export function cudaLoadProblem(folder = bindingFolder()): string | undefined {
  const library = path.join(folder, 'libonnxruntime_providers_cuda.so');
  if (!existsSync(library)) return undefined;
  try {
    process.dlopen({ exports: {} } as NodeJS.Module, library);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const missing = /([^\s:]+\.so[.\d]*): cannot open shared object file/.exec(message);
    if (missing !== null) return `${missing[1]} is not found; put the CUDA and cuDNN libraries that the provider was built against on LD_LIBRARY_PATH`;
    if (/undefined symbol/.test(message)) return `${message.split('\n')[0]} (the provider does not match this onnxruntime-node)`;
  }
  return undefined;
}
