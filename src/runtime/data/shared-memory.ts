/** Tensor data on a SharedArrayBuffer. */

/** Whether `data` is a typed array on a SharedArrayBuffer. */
export function isShared(data: unknown): boolean {
  return ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer;
}
