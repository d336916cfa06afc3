/**
 * Captured GPU-side text for the device tests, and a stand-in nvidia-smi: a script on PATH that prints what
 * nvidia-smi prints for the query onnx-parallelize runs (so the parsers and the numbering are tested on
 * real-format input, and the rest of the program runs as it would on a GPU machine).
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NVIDIA_SMI_ARGS } from '../src/runtime/gpu/gpus.js';
import { tempDir } from './helpers.js';

/** `nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id,uuid --format=csv,noheader,nounits` on two H200s. */
export const TWO_H200 = `0, NVIDIA H200, 143771, 580.65.06, 00000000:18:00.0, GPU-8932f937-d72c-4106-c12f-20bd9faed9f6
1, NVIDIA H200, 143771, 580.65.06, 00000000:2A:00.0, GPU-1f3b5a6c-0b1d-4e8a-9c47-6d2e1f0a9b33
`;

/** The same query on a desktop with a 12 GB and a 6 GB GPU (two models: CUDA's default order may differ). */
export const MIXED = `0, NVIDIA GeForce RTX 3060, 12288, 550.54.14, 00000000:01:00.0, GPU-2c5a7e1d-93f4-6a0b-8d1e-47c9b3f2a015
1, NVIDIA GeForce GTX 1660 Ti, 6144, 550.54.14, 00000000:02:00.0, GPU-9e1b4d2c-0f7a-3b85-c6d2-18a4e9f07b3c
`;

/** /proc/driver/nvidia/gpus/0000:18:00.0/information of an H200. */
export const H200_INFORMATION = `Model: \t\t NVIDIA H200
IRQ:   \t\t 535
GPU UUID: \t GPU-8932f937-d72c-4106-c12f-20bd9faed9f6
Video BIOS: \t 96.00.af.00.01
Bus Type: \t PCIe
DMA Size: \t 52 bits
DMA Mask: \t 0xfffffffffffff
Bus Location: \t 0000:18:00.0
Device Minor: \t 0
GPU Firmware: \t 580.65.06
GPU Excluded:\t No
`;

/** /proc/driver/nvidia/version of the open kernel modules. */
export const OPEN_DRIVER_VERSION = `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs-builder@U22-I3-AF03-09-1)  Sun Jul 27 07:09:29 UTC 2025
GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)
`;

/**
 * A folder holding a stand-in `nvidia-smi` (a Node script, so that it needs nothing else on PATH) that prints
 * `output` for onnx-parallelize's query and fails, as nvidia-smi does, for anything else.
 */
export function fakeNvidiaSmi(output: string): string {
  const folder = tempDir('onnx-parallelize-nvidia-smi-');
  const script = path.join(folder, 'nvidia-smi');
  const expected = JSON.stringify(NVIDIA_SMI_ARGS);
  writeFileSync(
    script,
    `#!${process.execPath}
if (JSON.stringify(process.argv.slice(2)) !== ${JSON.stringify(expected)}) { console.error('unexpected arguments'); process.exit(2); }
process.stdout.write(${JSON.stringify(output)});
`,
  );
  chmodSync(script, 0o755);
  return folder;
}

/** A folder laid out as /proc with the driver's files for the H200 above. */
export function fakeDriverFolder(): string {
  const root = tempDir('onnx-parallelize-proc-');
  const gpu = path.join(root, 'driver', 'nvidia', 'gpus', '0000:18:00.0');
  mkdirSync(gpu, { recursive: true });
  writeFileSync(path.join(gpu, 'information'), H200_INFORMATION);
  writeFileSync(path.join(root, 'driver', 'nvidia', 'version'), OPEN_DRIVER_VERSION);
  return root;
}

/** An environment whose PATH holds only `folder` (no real nvidia-smi can be found), with extra variables. */
export function envWith(folder: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: folder, ...extra };
  for (const name of ['CUDA_VISIBLE_DEVICES', 'CUDA_DEVICE_ORDER']) if (!(name in extra)) delete env[name];
  return env;
}

/** onnxruntime's CudaCall text (cuda_call.cc: `%s failure %d: %s ; GPU=%d ; hostname=%s ; file=%s ; line=%d ; expr=%s; %s`), as ORT_THROW reports it. */
export function cudaCallMessage(library: string, code: number, text: string, expr = 'cudaSetDevice(info_.device_id)'): string {
  const where =
    '/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_call.cc:129 std::conditional_t<THRW, void, onnxruntime::common::Status> onnxruntime::CudaCall(ERRTYPE, const char*, const char*, SUCCTYPE, const char*, const char*, int) [with ERRTYPE = cudaError; bool THRW = true; SUCCTYPE = cudaError; std::conditional_t<THRW, void, onnxruntime::common::Status> = void]';
  return `${where} ${where.replace(':129', ':121')} ${library} failure ${code}: ${text} ; GPU=0 ; hostname=h200 ; file=/onnxruntime_src/onnxruntime/core/providers/cuda/cuda_execution_provider.cc ; line=282 ; expr=${expr}; `;
}
