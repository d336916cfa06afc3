/** Tensor data on a SharedArrayBuffer: which onnxruntime-node takes, and how ParallelSession makes it. */

const nodeMajor = Number(process.versions.node.split('.')[0]);

/** onnxruntime-node refuses tensors on a SharedArrayBuffer under Node 20 ("Invalid argument") and takes them from Node 22 on. */
export const sharedBuffersAccepted = nodeMajor >= 22;

/** Whether `data` is a typed array on a SharedArrayBuffer. */
export function isShared(data: unknown): boolean {
  return ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer;
}
