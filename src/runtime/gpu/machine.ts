/**
 * What this machine can run on: its GPUs as CUDA numbers them, the CUDA and TensorRT providers' state, the CPU; and a check that
 * given devices can be used (each problem with its fix), ending with a tiny session created and run on each GPU.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../graph/build.js';
import { encodeModel } from '../../io/codec.js';
import { TensorProto_DataType } from '../../onnx.js';
import { messageOf } from '../../errors.js';
import { explainCudaFailure } from './cuda-errors.js';
import { gpuInventory, missingGpuMessage, type GpuInventory } from './gpus.js';
import { cudaProviderStatus, deviceSessionOptions, tensorrtProviderStatus, type CudaProviderStatus, type TensorrtProviderStatus } from './providers.js';

export interface CpuInfo {
  model: string;
  /** Logical cores of the machine, and those this process may use. */
  cores: number;
  available: number;
}

export interface DeviceProblem {
  /** The devices it concerns (empty: all of them, or the machine). */
  devices: string[];
  /** What is wrong and the fix, in one line. */
  problem: string;
}

export interface DeviceCheck {
  /** The option that named the devices: `--gpus 2`, `--devices cuda:0,cpu`. */
  asked: string;
  devices: string[];
  ok: boolean;
  problems: DeviceProblem[];
  /** The GPUs on which a session was created and run. */
  tried: string[];
}

export interface MachineReport {
  gpus: GpuInventory;
  cudaProvider: CudaProviderStatus;
  tensorrtProvider: TensorrtProviderStatus;
  cpu: CpuInfo;
  check?: DeviceCheck;
}

export function cpuInfo(): CpuInfo {
  const cpus = os.cpus();
  const available = typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length;
  return { model: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length, available };
}

/** The fix for a machine where no GPU could be read at all. */
const NO_DRIVER_FIX = 'install the NVIDIA driver (nvidia-smi must work); in a container, run it with the NVIDIA container runtime (docker run --gpus all)';

/** The problems that can be seen without creating a session. */
function staticProblems(devices: string[], asked: string, gpus: GpuInventory, provider: CudaProviderStatus): DeviceProblem[] {
  const cuda = [...new Set(devices.filter((d) => d.startsWith('cuda:')))];
  if (cuda.length === 0) return [];
  const problems: DeviceProblem[] = [];
  if (!gpus.counted) problems.push({ devices: cuda, problem: `no NVIDIA GPU found (${gpus.notes[0] ?? 'nothing could be read'}); ${NO_DRIVER_FIX}` });
  const missing = missingGpuMessage(asked, cuda, gpus);
  if (missing !== undefined) problems.push({ devices: [], problem: missing });
  const providerProblems = [provider.installProblem, provider.loadProblem, provider.cudnn?.found === false ? provider.cudnn.problem : undefined, provider.versionProblem];
  for (const problem of providerProblems) if (problem !== undefined) problems.push({ devices: cuda, problem });
  return problems;
}

/** A model of one Relu on a float [1]: enough to make a CUDA session allocate, load its kernels and run. */
function tinyModel(): Uint8Array {
  const graph = makeGraph({
    name: 'device_check',
    inputs: [makeValueInfo('x', TensorProto_DataType.FLOAT, [1])],
    outputs: [makeValueInfo('y', TensorProto_DataType.FLOAT, [1])],
    nodes: [makeNode('Relu', ['x'], ['y'])],
  });
  return encodeModel(makeModel(graph, { opset: 13, producer: 'onnx-parallelize devices' }));
}

/** Creates and runs a tiny session on `device`; the problem, in one line with the fix, or undefined. */
async function trySession(device: string, model: Uint8Array): Promise<string | undefined> {
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(model, deviceSessionOptions(device));
    await session.run({ x: new ort.Tensor('float32', new Float32Array([1]), [1]) });
    return undefined;
  } catch (error) {
    const message = messageOf(error);
    return `${explainCudaFailure(device, message) ?? 'creating a session failed'} (onnxruntime: ${message.replace(/\s+/g, ' ').trim()})`;
  } finally {
    await session?.release().catch(() => undefined);
  }
}

/** Whether `devices` can be used here: the problems seen without a GPU, then a tiny session on each GPU left. */
export async function checkDevices(asked: string, devices: string[], gpus: GpuInventory, provider: CudaProviderStatus): Promise<DeviceCheck> {
  const problems = staticProblems(devices, asked, gpus, provider);
  const tried: string[] = [];
  if (problems.length === 0) {
    const model = tinyModel();
    for (const device of new Set(devices.filter((d) => d.startsWith('cuda:')))) {
      tried.push(device);
      const problem = await trySession(device, model);
      if (problem !== undefined) problems.push({ devices: [device], problem });
    }
  }
  return { asked, devices, ok: problems.length === 0, problems, tried };
}

/** The report of `onnx-parallelize devices`: GPUs, the CUDA and TensorRT providers, the CPU, and the check of `check` when given. */
export async function machineReport(check?: { asked: string; devices: string[] | 'all' }): Promise<MachineReport> {
  const gpus = await gpuInventory();
  const cudaProvider = cudaProviderStatus();
  const report: MachineReport = { gpus, cudaProvider, tensorrtProvider: tensorrtProviderStatus(), cpu: cpuInfo() };
  if (check !== undefined) {
    if (check.devices === 'all' && gpus.gpus.length === 0) {
      const why = gpus.counted ? `this machine has no GPU that CUDA can see${gpus.notes.length > 0 ? ` (${gpus.notes.join('; ')})` : ''}; give --devices cpu` : `no NVIDIA GPU found (${gpus.notes[0] ?? 'nothing could be read'}); ${NO_DRIVER_FIX}`;
      report.check = { asked: check.asked, devices: [], ok: false, problems: [{ devices: [], problem: why }], tried: [] };
    } else {
      const devices = check.devices === 'all' ? gpus.gpus.map((g) => `cuda:${g.index}`) : check.devices;
      report.check = await checkDevices(check.asked, devices, gpus, cudaProvider);
    }
  }
  return report;
}
