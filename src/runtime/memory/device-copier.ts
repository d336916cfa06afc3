/** Copies between JavaScript memory and a device's memory: through the CUDA runtime for a GPU, in place for the CPU. */
import { koffi } from '../onnxruntime/koffi.js';

export interface DeviceCopier {
  /** `bytes` bytes from `source` (JavaScript memory, or an address in the device's memory) to the address `target`. */
  toDevice(target: number, source: ArrayBufferView | number, bytes: number): Promise<void>;
  /** `bytes` bytes from the address `source` into `target`. */
  toHost(target: ArrayBufferView, source: number, bytes: number): Promise<void>;
}

/** Copies within the CPU's memory (onnxruntime's CPU values). */
export const hostCopier: DeviceCopier = {
  async toDevice(target, source, bytes) {
    if (bytes === 0) return;
    const from = typeof source === 'number' ? new Uint8Array(koffi.view(source, bytes)) : new Uint8Array(source.buffer, source.byteOffset, bytes);
    new Uint8Array(koffi.view(target, bytes)).set(from);
  },
  async toHost(target, source, bytes) {
    if (bytes === 0) return;
    new Uint8Array(target.buffer, target.byteOffset, bytes).set(new Uint8Array(koffi.view(source, bytes)));
  },
};
