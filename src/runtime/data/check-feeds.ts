/** Checks the feeds of a run against the model's inputs, with a TypeError that names the input, before any work. */
import type * as ort from 'onnxruntime-node';
import { TensorProto_DataType, type ValueInfoProto } from '../../onnx.js';
import { elemTypeOf, shapeOf } from '../../graph/types.js';
import { bfloat16Hint, ortTypeOf } from '../../tensors/ort-types.js';
import { isFloat16Array } from '../../tensors/float16.js';
import type { ExecutionPlan } from '../../transform/plan.js';
import { ArgumentError } from '../../errors.js';
import { deviceValueOf } from '../memory/device-values.js';

/** What a feed must be, worked out once per session from the model's inputs and the plan. */
interface InputSpec {
  name: string;
  type: string | undefined;
  /** A bfloat16 input, which takes its bits as a uint16 tensor. */
  bfloat16: boolean;
  shape: Array<number | string | null> | undefined;
  axis: number | null;
}

/**
 * A checker of run feeds for one model: returns the batch size shared by the batched inputs, or throws a TypeError
 * naming the input. Everything that depends only on the model is worked out here, once, not on every run.
 */
export function feedChecker(inputs: ValueInfoProto[], plan: ExecutionPlan): (feeds: unknown) => number {
  const specs: InputSpec[] = inputs.map((info) => {
    const elemType = elemTypeOf(info);
    return { name: info.name, type: elemType === undefined ? undefined : ortTypeOf[elemType], bfloat16: elemType === TensorProto_DataType.BFLOAT16, shape: shapeOf(info), axis: plan.inputs.find((i) => i.name === info.name)?.axis ?? null };
  });
  const names = new Set(specs.map((s) => s.name));
  return (feeds: unknown): number => {
    if (typeof feeds !== 'object' || feeds === null) throw new ArgumentError('feeds: expected an object of onnxruntime Tensors keyed by input name');
    const given = feeds as Record<string, unknown>;
    for (const name in given) {
      if (!names.has(name)) throw new ArgumentError(`feeds: '${name}' is not an input of the model (inputs: ${[...names].join(', ')})`);
    }
    let batch: number | undefined;
    let batchFrom = '';
    for (const { name, type, bfloat16, shape, axis } of specs) {
      const tensor = given[name] as ort.Tensor | undefined;
      if (tensor === undefined) throw new ArgumentError(`feeds: input '${name}' is missing`);
      if (typeof tensor !== 'object' || tensor === null || !('dims' in tensor) || !('type' in tensor) || !('data' in tensor)) throw new ArgumentError(`feeds: input '${name}' must be an onnxruntime Tensor`);
      if (bfloat16 && tensor.type !== type) throw new ArgumentError(`feeds: input '${name}' is bfloat16, got a ${tensor.type} tensor; ${bfloat16Hint}`);
      if (type !== undefined && tensor.type !== type) throw new ArgumentError(`feeds: input '${name}' must be ${type}, got ${tensor.type}`);
      if (tensor.location === 'none') throw new ArgumentError(`feeds: input '${name}' is a disposed tensor; feed it before disposing it`);
      const kept = tensor.location === 'gpu-buffer' ? deviceValueOf(tensor) : undefined;
      if (tensor.location === 'gpu-buffer' && (kept === undefined || kept.dropped)) {
        throw new ArgumentError(`feeds: input '${name}' is a ${kept === undefined ? "'gpu-buffer' tensor that no ParallelSession made" : 'tensor whose device memory was given back'}; feed an output kept in device memory by a ParallelSession run (preferredOutputLocation 'gpu-buffer'), or a tensor of data`);
      }
      if (kept === undefined && tensor.type === 'float16' && !(tensor.data instanceof Uint16Array || isFloat16Array(tensor.data))) {
        throw new ArgumentError(`feeds: input '${name}' is float16: its data must be a Uint16Array of half bit patterns or a Float16Array, got ${dataKind(tensor.data)}`);
      }
      const { dims } = tensor;
      if (!Array.isArray(dims)) throw new ArgumentError(`feeds: input '${name}' must have dims as an array of whole numbers`);
      // An onnxruntime Tensor holds as many values as its dims say; an object that only looks like one may not.
      let values = 1;
      for (let k = 0; k < dims.length; k++) {
        const dim = dims[k]!;
        if (!Number.isSafeInteger(dim) || dim < 0) throw new ArgumentError(`feeds: input '${name}' dim ${k} must be a whole number >= 0, got ${String(dim)}`);
        values *= dim;
      }
      const length = kept === undefined ? (tensor.data as ArrayLike<unknown>).length : values;
      if (length !== values && !((tensor.type === 'int4' || tensor.type === 'uint4') && length === Math.ceil(values / 2))) {
        throw new ArgumentError(`feeds: input '${name}' has ${length} values, but its dims [${dims.join(', ')}] hold ${values}`);
      }
      if (shape !== undefined) {
        if (dims.length !== shape.length) throw new ArgumentError(`feeds: input '${name}' must have rank ${shape.length} ([${shape.join(', ')}]), got [${dims.join(', ')}]`);
        for (let k = 0; k < shape.length; k++) {
          const dim = shape[k];
          if (k !== axis && typeof dim === 'number' && dim >= 0 && dims[k] !== dim) throw new ArgumentError(`feeds: input '${name}' dim ${k} must be ${dim}, got ${dims[k]}`);
        }
      }
      if (axis !== null) {
        const size = dims[axis];
        if (size === undefined) throw new ArgumentError(`feeds: input '${name}' has no axis ${axis} to split`);
        if (batch === undefined) {
          batch = size;
          batchFrom = name;
        } else if (batch !== size) throw new ArgumentError(`feeds: input '${name}' has batch ${size} on axis ${axis}, but '${batchFrom}' has ${batch}`);
      }
    }
    return batch ?? 0;
  };
}

const dataKind = (data: unknown): string => (typeof data === 'object' && data !== null ? data.constructor.name : typeof data);
