/**
 * The few CUDA runtime calls onnxruntime's C API does not offer: page-locking JavaScript memory for as long as it
 * lives (cudaHostRegister, cudaHostUnregister), and copying between JavaScript memory and GPU memory (cudaMemcpy). The runtime is the one the CUDA provider links (libcudart.so.N), loaded by its name: once a CUDA
 * session exists it is already in the process, and this is the same copy.
 */
import { koffi, type KoffiFunction } from '../onnxruntime/koffi.js';
import { cudaProviderStatus } from '../gpu/provider-libraries.js';
import type { DeviceCopier } from './device-copier.js';

/** cudaHostRegisterPortable: pinned for every GPU of the process, not only the current one. */
const HOST_REGISTER_PORTABLE = 1;
/** cudaMemcpyDefault: the direction is found from the pointers (unified addressing). */
const MEMCPY_DEFAULT = 4;

export interface CudaRuntime {
  /** Page-locks `bytes` bytes of host memory at `address`, which its owner keeps until hostUnregister. */
  hostRegister(address: number, bytes: number): void;
  hostUnregister(address: number): void;
  /** Copies `bytes` bytes from `source` (GPU or host memory) into `target`, leaving the main thread. */
  copyInto(target: ArrayBufferView, source: number, bytes: number): Promise<void>;
  /** Copies `bytes` bytes from `source` (JavaScript memory, or an address in GPU or host memory) to the address `target`, leaving the main thread. */
  copyTo(target: number, source: ArrayBufferView | number, bytes: number): Promise<void>;
}

let loaded: CudaRuntime | Error | undefined;

/** The CUDA runtime, or an Error saying why it cannot be loaded. */
export function cudaRuntime(): CudaRuntime | Error {
  loaded ??= load();
  return loaded;
}

function load(): CudaRuntime | Error {
  const name = cudaProviderStatus().cudaLibraries.find((lib) => lib.startsWith('libcudart.so')) ?? 'libcudart.so';
  let library: ReturnType<typeof koffi.load>;
  try {
    library = koffi.load(name);
  } catch (error) {
    return new Error(`the CUDA runtime ${name} cannot be loaded (${error instanceof Error ? error.message : String(error)}): put CUDA's lib folder on LD_LIBRARY_PATH`);
  }
  const hostRegister = library.func('int cudaHostRegister(uint64_t address, size_t bytes, unsigned int flags)') as KoffiFunction;
  const hostUnregister = library.func('int cudaHostUnregister(uint64_t address)') as KoffiFunction;
  // One prototype per kind of pointer on each side: JavaScript memory, or an address as a number.
  const memcpy = library.func('cudaMemcpy', 'int', ['void *', 'uint64_t', 'size_t', 'int']) as KoffiFunction;
  const memcpyFrom = library.func('cudaMemcpy', 'int', ['uint64_t', 'void *', 'size_t', 'int']) as KoffiFunction;
  const memcpyBetween = library.func('cudaMemcpy', 'int', ['uint64_t', 'uint64_t', 'size_t', 'int']) as KoffiFunction;
  // cudaMemcpy from pageable memory may return before the copy has landed: waiting on the default stream makes
  // sure it has, before onnxruntime's own stream reads the memory.
  const synchronize = library.func('cudaStreamSynchronize', 'int', ['uint64_t']) as KoffiFunction;
  const errorString = library.func('const char *cudaGetErrorString(int error)') as KoffiFunction;
  const check = (what: string, code: unknown): void => {
    if (code !== 0) throw new Error(`${what} failed: CUDA error ${String(code)} (${errorString(code) as string})`);
  };
  return {
    hostRegister(address, bytes) {
      check(`page-locking ${bytes} bytes (cudaHostRegister)`, hostRegister(address, bytes, HOST_REGISTER_PORTABLE));
    },
    hostUnregister(address) {
      check('cudaHostUnregister', hostUnregister(address));
    },
    copyInto(target, source, bytes) {
      return call(memcpy, [target, source, bytes, MEMCPY_DEFAULT], `copying ${bytes} bytes out of GPU memory (cudaMemcpy)`);
    },
    async copyTo(target, source, bytes) {
      const fn = typeof source === 'number' ? memcpyBetween : memcpyFrom;
      await call(fn, [target, source, bytes, MEMCPY_DEFAULT], `copying ${bytes} bytes into GPU memory (cudaMemcpy)`);
      await call(synchronize, [0], 'waiting for a copy into GPU memory (cudaStreamSynchronize)');
    },
  };

  /** Calls `fn` on libuv's thread pool; its arguments (and the memory they point into) are held until it returns. */
  function call(fn: KoffiFunction, args: unknown[], what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      fn.async(...args, (error: unknown, code: unknown) => {
        try {
          if (error) throw error instanceof Error ? error : new Error(String(error));
          check(what, code);
          resolve();
        } catch (failure) {
          reject(failure instanceof Error ? failure : new Error(String(failure)));
        }
      });
    });
  }
}

/** Copies between JavaScript memory and GPU memory through the CUDA runtime, or an Error saying why there can be none. */
export function cudaCopier(): DeviceCopier | Error {
  const runtime = cudaRuntime();
  if (runtime instanceof Error) return runtime;
  return {
    toDevice: (target, source, bytes) => (bytes === 0 ? Promise.resolve() : runtime.copyTo(target, source, bytes)),
    toHost: (target, source, bytes) => (bytes === 0 ? Promise.resolve() : runtime.copyInto(target, source, bytes)),
  };
}
