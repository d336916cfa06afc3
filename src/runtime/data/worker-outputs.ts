/**
 * The outputs a device worker has onnxruntime write into the caller's tensors (ParallelSession.run's
 * `options.outputs`). Where onnxruntime-node takes shared memory (Node 22 and later) and the run's rows are one
 * block of the caller's tensor (rows along axis 0, or the whole tensor), onnxruntime writes them in place.
 * Otherwise it writes into a buffer this worker keeps from run to run, and the worker copies the rows into place.
 */
import type { OutputPlace } from '../session/messages.js';
import { bytesOf, placeRows, product, viewLike, type View } from './row-copy.js';
import { sharedBuffersAccepted } from './shared-memory.js';

export interface OutputTarget {
  /** The dims onnxruntime writes. */
  dims: number[];
  /** Where it writes them: a view of the place, or of this worker's own buffer. */
  data: View;
  /** Whether `data` is the place itself, so that nothing is left to copy. */
  inPlace: boolean;
}

export class WorkerOutputs {
  /** One buffer per output, grown when a run needs more, reused by every later run. */
  private readonly scratch: ArrayBuffer[] = [];

  constructor(private readonly acceptsShared = sharedBuffersAccepted) {}

  /** Where onnxruntime is to write output `index` of a run placed at `place`. */
  target(index: number, place: OutputPlace): OutputTarget {
    const whole = place.data as View;
    const dims = place.dims.slice();
    if (place.axis !== null) dims[place.axis] = place.size;
    const oneBlock = place.axis === null || product(place.dims, 0, place.axis) === 1;
    if (this.acceptsShared && oneBlock) {
      if (place.axis === null) return { dims, data: whole, inPlace: true };
      const inner = product(place.dims, place.axis + 1);
      return { dims, data: whole.subarray(place.start * inner, (place.start + place.size) * inner), inPlace: true };
    }
    const length = product(dims);
    const bytes = length * (whole as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    let buffer = this.scratch[index];
    if (buffer === undefined || buffer.byteLength < bytes) buffer = this.scratch[index] = new ArrayBuffer(bytes);
    return { dims, data: viewLike(whole, buffer, length), inPlace: false };
  }

  /** Copies what onnxruntime wrote into `target` to its place, unless it wrote it there. */
  finish(place: OutputPlace, target: OutputTarget): void {
    if (target.inPlace) return;
    const whole = place.data as View;
    if (place.axis === null) return bytesOf(whole).set(bytesOf(target.data));
    placeRows(target.data, whole, place.dims, place.axis, place.start, place.size);
  }
}
