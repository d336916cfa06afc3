/**
 * The inputs a device worker feeds onnxruntime. Data sent for the run is fed as it is. An input on a
 * SharedArrayBuffer is read in place where onnxruntime-node takes shared memory (Node 22 and later): the rows a
 * run takes along axis 0 are a view. Where it cannot be read in place (Node 20, or rows along another axis), the
 * worker copies its rows once into a buffer of its own, kept from run to run, so no buffer is allocated per run.
 */
import type { RowCut, WireData } from '../session/messages.js';
import { copyRows, product, rowsByteLength, type View } from './row-copy.js';
import { sharedBuffersAccepted } from './shared-memory.js';

export class WorkerInputs {
  /** One buffer per input, grown when a run needs more, reused by every later run. */
  private readonly scratch: ArrayBuffer[] = [];

  constructor(private readonly acceptsShared = sharedBuffersAccepted) {}

  /** The dims and data of input `index` as onnxruntime is to be fed them, taking the rows of `cut` where given. */
  feed(index: number, dims: number[], data: WireData, cut: RowCut | undefined): { dims: number[]; data: WireData } {
    if (Array.isArray(data)) return { dims, data };
    const view = data as View;
    const inPlace = !(view.buffer instanceof SharedArrayBuffer) || this.acceptsShared;
    if (cut === undefined) return { dims, data: inPlace ? view : this.copy(index, view, [view.length], 0, 0, view.length) };
    const rowDims = dims.slice();
    rowDims[cut.axis] = cut.size;
    if (inPlace && product(dims, 0, cut.axis) === 1) {
      const inner = product(dims, cut.axis + 1);
      return { dims: rowDims, data: view.subarray(cut.start * inner, (cut.start + cut.size) * inner) };
    }
    return { dims: rowDims, data: this.copy(index, view, dims, cut.axis, cut.start, cut.size) };
  }

  private copy(index: number, source: View, dims: readonly number[], axis: number, start: number, size: number): View {
    const byteLength = rowsByteLength(source, dims, axis, size);
    let buffer = this.scratch[index];
    if (buffer === undefined || buffer.byteLength < byteLength) buffer = this.scratch[index] = new ArrayBuffer(byteLength);
    return copyRows(source, dims, axis, start, size, buffer);
  }
}
