/**
 * OrtMemoryInfo: where onnxruntime is to put a value (a device's own memory, for outputs bound to it) and where a
 * value it made lies.
 */
import { koffi } from './koffi.js';
import { ortApi, type Handle } from './library.js';
import { check, Out } from './status.js';

/** A device's memory: the CPU's, or GPU `id`'s (onnxruntime's CUDA memory). */
export type MemoryPlace = { kind: 'cpu' } | { kind: 'cuda'; id: number };

/** OrtDeviceAllocator, OrtMemTypeDefault: memory of the device itself, as onnxruntime's bindings bind outputs to it. */
const DEVICE_ALLOCATOR = 0;
const MEM_TYPE_DEFAULT = 0;

const made = new Map<string, Handle>();

/** The memory info of a device's own memory (made once per device, never released). */
export function memoryInfo(place: MemoryPlace): Handle {
  const key = place.kind === 'cpu' ? 'Cpu' : `Cuda:${place.id}`;
  let info = made.get(key);
  if (info !== undefined) return info;
  const api = ortApi();
  const out = new Out();
  check(api, api.CreateMemoryInfo(place.kind === 'cpu' ? 'Cpu' : 'Cuda', DEVICE_ALLOCATOR, place.kind === 'cpu' ? 0 : place.id, MEM_TYPE_DEFAULT, out.cell));
  info = out.value;
  made.set(key, info);
  return info;
}

/** Where a tensor value lies: onnxruntime's name of its memory ('Cpu', 'Cuda', 'CudaPinned', ...) and device id. */
export function valueMemory(value: Handle): { name: string; id: number } {
  const api = ortApi();
  const info = new Out();
  check(api, api.GetTensorMemoryInfo(value, info.cell));
  const name = new Out();
  check(api, api.MemoryInfoGetName(info.value, name.cell));
  const id = new Int32Array(1);
  check(api, api.MemoryInfoGetId(info.value, id));
  return { name: koffi.decode(name.value, 'char', -1) as string, id: id[0]! };
}
