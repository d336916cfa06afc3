/**
 * CUDA failures at session creation, rewritten into one readable line: the device, the cause and the fix.
 * onnxruntime reports them as C++ text (`... onnxruntime::CudaCall(...) [with ERRTYPE = cudaError; ...] CUDA failure
 * 101: invalid device ordinal ; GPU=0 ; hostname=... ; file=... ; line=... ; expr=cudaSetDevice(info_.device_id);`,
 * or `Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared
 * object file: ...`; the TensorRT provider's likewise). The rewritten error keeps onnxruntime's full text as its `cause`.
 */
import { describeGpus, lastGpuInventory } from './gpus.js';
import { cudaLoadProblem, parseDevice } from './providers.js';
import { tensorrtLoadProblem } from './provider-libraries.js';

/** What onnxruntime's CudaCall reported: the library (CUDA, CUBLAS, CUDNN, ...), its error code and text. */
export interface CudaFailure {
  library: string;
  code: number;
  text: string;
}

/** The CudaCall failure in onnxruntime's message (`CUDA failure 101: invalid device ordinal ; GPU=0 ; ...`). */
export function parseCudaFailure(message: string): CudaFailure | undefined {
  const match = /\b([A-Za-z]+) failure (-?\d+): (.*?)\s*(?:;\s*GPU=|$)/m.exec(message);
  return match === null ? undefined : { library: match[1]!, code: Number(match[2]), text: match[3]!.trim() };
}

const OUT_OF_MEMORY = (device: string): string => `${device} has not enough free memory for this session; free memory on it (nvidia-smi lists the processes using it), put fewer replicas on it, or use a smaller model`;

/** Cause and fix for a CUDA runtime error, by its code (the text is fixed by the CUDA runtime for each code). */
function cudaRuntimeCause(device: string, code: number, text: string): string {
  const id = parseDevice(device).kind === 'cuda' ? device : 'the GPU';
  switch (code) {
    case 101: // invalid device ordinal
      return missingDevice(device);
    case 100: // no CUDA-capable device is detected
      return 'CUDA sees no GPU in this process; check that nvidia-smi lists one, that CUDA_VISIBLE_DEVICES does not hide them all, and in a container that it runs with the NVIDIA container runtime (docker run --gpus all)';
    case 35: // CUDA driver version is insufficient for CUDA runtime version
      return `the NVIDIA driver${driverVersion()} is older than the CUDA the provider was built for; update the driver, or use a provider built for the CUDA version that nvidia-smi shows`;
    case 2: // out of memory
      return OUT_OF_MEMORY(id);
    case 46: // CUDA-capable device(s) is/are busy or unavailable
      return `${id} is taken: its compute mode is exclusive and another process holds it, or it is prohibited; nvidia-smi -q -d COMPUTE shows the mode`;
    case 209: // no kernel image is available for execution on the device
      return `the CUDA provider holds no code for ${id}'s architecture; use a provider built for it (nvidia-smi --query-gpu=compute_cap --format=csv shows the GPU's)`;
    case 34: // CUDA driver is a stub library
      return 'the CUDA driver library found is a stub (from a CUDA toolkit\'s lib/stubs folder); take that folder off LD_LIBRARY_PATH so that the driver\'s libcuda.so.1 is used';
    case 3: // initialization error
      return 'CUDA could not start; check that nvidia-smi works and that the driver fits the CUDA libraries on LD_LIBRARY_PATH';
    case 803: // system has unsupported display driver / cuda driver combination
      return "the NVIDIA driver's libcuda does not match its kernel module; reinstall the driver, or reboot after a driver upgrade";
    case 999: // unknown error
      return 'CUDA reports an unknown error, often after the driver lost the GPU; check nvidia-smi and the kernel log (dmesg), then reload the driver or reboot';
    default:
      return /out of memory/i.test(text) ? OUT_OF_MEMORY(id) : `check ${id} with nvidia-smi (onnx-parallelize devices shows what this process can use)`;
  }
}

function driverVersion(): string {
  const driver = lastGpuInventory()?.driver;
  return driver === undefined ? '' : ` (${driver})`;
}

function missingDevice(device: string): string {
  const inventory = lastGpuInventory();
  if (inventory?.counted === true) return `${device} does not exist; this machine has ${describeGpus(inventory)}`;
  return `${device} is not a GPU that CUDA sees in this process (CUDA_VISIBLE_DEVICES limits them); onnx-parallelize devices lists them`;
}

/** Cause and fix for a failure of a CUDA library other than the runtime (cuBLAS, cuDNN), from its status name. */
function libraryCause(device: string, failure: CudaFailure): string {
  if (/ALLOC(ATION)?_FAILED/.test(failure.text)) return OUT_OF_MEMORY(device);
  if (/NOT_INITIALIZED/.test(failure.text)) return `${failure.library} could not start on ${device}, usually for lack of free GPU memory; free memory on it (nvidia-smi lists the processes using it)`;
  if (/ARCH_MISMATCH|EXECUTION_FAILED/.test(failure.text)) return `${failure.library} cannot run on ${device}'s architecture; use CUDA and cuDNN libraries that support this GPU`;
  return `check ${device} with nvidia-smi, and that the CUDA and cuDNN libraries on LD_LIBRARY_PATH are those the provider was built for`;
}

/** The readable cause and fix for onnxruntime's message, or undefined when it is not a CUDA failure known here. */
export function explainCudaFailure(device: string, message: string): string | undefined {
  const failure = parseCudaFailure(message);
  if (failure !== undefined) {
    const what = `${failure.library} error ${failure.code} (${failure.text})`;
    return `${what}: ${failure.library === 'CUDA' ? cudaRuntimeCause(device, failure.code, failure.text) : libraryCause(device, failure)}`;
  }
  // onnxruntime's own checks of the device id (SetCurrentGpuDeviceId, the CUDA provider's options).
  if (/Invalid device (id|ID)\b/.test(message)) return missingDevice(device);
  const load = /Failed to load library (\S+) with error: ([^\n]*)/.exec(message);
  if (load !== null && /providers_tensorrt/.test(load[1]!)) {
    const missing = /([^\s:]+\.so[.\d]*): cannot open shared object file/.exec(load[2]!);
    if (missing !== null && missing[1] !== load[1]) return `the TensorRT provider cannot load: ${missing[1]} is not found; put the TensorRT (libnvinfer), CUDA and cuDNN libraries it was built for on LD_LIBRARY_PATH (the dynamic loader: ${load[2]!.trim()})`;
    return `the TensorRT provider cannot load: ${tensorrtLoadProblem() ?? load[2]!.trim()}`;
  }
  if (load !== null) {
    const missing = /([^\s:]+\.so[.\d]*): cannot open shared object file/.exec(load[2]!);
    if (missing !== null && missing[1] !== load[1]) return `the CUDA provider cannot load: ${missing[1]} is not found; put the CUDA and cuDNN libraries it was built for on LD_LIBRARY_PATH (the dynamic loader: ${load[2]!.trim()})`;
    return `the CUDA provider cannot load: ${cudaLoadProblem() ?? load[2]!.trim()}`;
  }
  if (/shared library/i.test(message) && parseDevice(device).kind === 'cuda') {
    return `the CUDA provider cannot load: ${cudaLoadProblem() ?? 'it is installed but could not be loaded; check that the CUDA and cuDNN libraries are on LD_LIBRARY_PATH'}`;
  }
  const option = /Unknown provider option: "([^"]*)"/.exec(message);
  if (option !== null) return `onnxruntime's ${option[1]!.startsWith('trt_') ? 'TensorRT' : 'CUDA'} provider has no option "${option[1]}" (Unknown provider option); leave it out`;
  return undefined;
}

/**
 * The error of a device whose session could not be created: one line naming the device (`label`), the cause and
 * the fix, with onnxruntime's full text as its `cause`; or onnxruntime's text itself when it is no known CUDA failure.
 */
export function sessionFailure(device: string, label: string, message: string): Error {
  const explained = explainCudaFailure(device, message);
  if (explained === undefined) return new Error(`${label}: cannot create its session: ${message}`);
  return new Error(`${label}: ${explained}`, { cause: new Error(message) });
}

const mebibytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0)} MiB`;

/**
 * The error of a run on a CUDA device that ran out of GPU memory (onnxruntime's arena: `Failed to allocate memory
 * for requested buffer of size N`, or CUDA's own out-of-memory), rewritten into one line that names the device,
 * the buffer, the device's `gpu_mem_limit` where one is set, and the fix; onnxruntime's text is its `cause`.
 * Undefined for any other failure.
 */
export function runOutOfMemory(device: string, label: string, message: string, gpuMemLimit: string | undefined): Error | undefined {
  const arena = /Failed to allocate memory for requested buffer of size (\d+)/.exec(message);
  const cuda = parseCudaFailure(message);
  const outOfMemory = arena !== null || (cuda !== undefined && (cuda.code === 2 || /out of memory|ALLOC(ATION)?_FAILED/i.test(cuda.text)));
  if (!outOfMemory) return undefined;
  const buffer = arena === null ? '' : ` for a buffer of ${mebibytes(Number(arena[1]))}`;
  const fewer = 'send fewer rows per run (maxBatchPerDevice)';
  const limit = gpuMemLimit === undefined ? undefined : Number(gpuMemLimit);
  const why =
    limit !== undefined && Number.isFinite(limit)
      ? `out of GPU memory${buffer}: its gpu_mem_limit is ${limit} bytes (${mebibytes(limit)}); raise gpu_mem_limit for ${device} (deviceOptions['${device}'].gpu_mem_limit, or --cuda-option gpu_mem_limit=BYTES@${device}) or ${fewer}`
      : `out of GPU memory${buffer}: ${fewer}, put fewer replicas on ${device}, or free memory on it (nvidia-smi lists the processes using it)`;
  return new Error(`${label}: ${why}`, { cause: new Error(message) });
}
