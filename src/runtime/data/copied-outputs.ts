/**
 * Output tensors a caller gives to be written (`options.outputs`) that onnxruntime cannot write in place:
 * bfloat16 outputs. onnxruntime writes a bfloat16 output only into a bfloat16 tensor, and the caller's is an
 * onnxruntime-node 'uint16' tensor of its bits. Such an output is left to the run like any other, and its bits
 * are copied into the caller's tensor once the run is over.
 */
import type * as ort from 'onnxruntime-node';
import { TensorProto_DataType, type ValueInfoProto } from '../../onnx.js';
import { elemTypeOf } from '../../graph/types.js';

type Tensors = Record<string, ort.Tensor>;

/** The names of the outputs that are written into the caller's tensors by a copy after the run. */
export function copiedOutputNames(outputs: readonly ValueInfoProto[]): ReadonlySet<string> {
  return new Set(outputs.filter((info) => elemTypeOf(info) === TensorProto_DataType.BFLOAT16).map((info) => info.name));
}

/** The tensors onnxruntime writes in place (undefined when none), and those filled by a copy after the run. */
export function separateTargets(targets: Tensors | undefined, copiedNames: ReadonlySet<string>): { inPlace: Tensors | undefined; copied: Tensors | undefined } {
  if (targets === undefined || copiedNames.size === 0 || !Object.keys(targets).some((name) => copiedNames.has(name))) return { inPlace: targets, copied: undefined };
  const inPlace: Tensors = {};
  const copied: Tensors = {};
  for (const [name, tensor] of Object.entries(targets)) (copiedNames.has(name) ? copied : inPlace)[name] = tensor;
  return { inPlace: Object.keys(inPlace).length === 0 ? undefined : inPlace, copied };
}

/** The run's outputs with each copied output's values written into the caller's tensor, which takes its place. */
export function fillCopiedTargets(outputs: Tensors, copied: Tensors): Tensors {
  const filled = { ...outputs };
  for (const [name, target] of Object.entries(copied)) {
    const value = outputs[name]!;
    if (value.type !== target.type || value.dims.length !== target.dims.length || value.dims.some((d, i) => d !== target.dims[i])) {
      throw new Error(`options.outputs['${name}']: the output is ${value.type} [${value.dims.join(', ')}], the tensor given is ${target.type} [${target.dims.join(', ')}]`);
    }
    const from = value.data as ArrayBufferView;
    const to = target.data as ArrayBufferView;
    new Uint8Array(to.buffer, to.byteOffset, to.byteLength).set(new Uint8Array(from.buffer, from.byteOffset, from.byteLength));
    filled[name] = target;
  }
  return filled;
}
