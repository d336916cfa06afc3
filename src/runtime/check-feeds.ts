/** Checks the feeds of a run against the model's inputs, with a TypeError that names the input, before any work. */
import type * as ort from 'onnxruntime-node';
import type { ValueInfoProto } from '../onnx.js';
import { elemTypeOf, shapeOf } from '../graph/types.js';
import { ortTypeOf } from '../tensors/ort-types.js';
import { isFloat16Array } from '../tensors/float16.js';
import type { ExecutionPlan } from '../transform/plan.js';

export interface CheckedFeeds {
  /** The batch size shared by the batched inputs. */
  batch: number;
}

export function checkFeeds(feeds: unknown, inputs: ValueInfoProto[], plan: ExecutionPlan): CheckedFeeds {
  if (typeof feeds !== 'object' || feeds === null) throw new TypeError('feeds: expected an object of onnxruntime Tensors keyed by input name');
  const given = feeds as Record<string, unknown>;
  const names = new Set(inputs.map((i) => i.name));
  for (const name of Object.keys(given)) {
    if (!names.has(name)) throw new TypeError(`feeds: '${name}' is not an input of the model (inputs: ${[...names].join(', ')})`);
  }
  let batch: { size: number; from: string } | undefined;
  for (const info of inputs) {
    const tensor = given[info.name] as ort.Tensor | undefined;
    if (tensor === undefined) throw new TypeError(`feeds: input '${info.name}' is missing`);
    if (typeof tensor !== 'object' || tensor === null || !('dims' in tensor) || !('type' in tensor) || !('data' in tensor)) throw new TypeError(`feeds: input '${info.name}' must be an onnxruntime Tensor`);
    const elemType = elemTypeOf(info);
    const expectedType = elemType === undefined ? undefined : ortTypeOf[elemType];
    if (expectedType !== undefined && tensor.type !== expectedType) throw new TypeError(`feeds: input '${info.name}' must be ${expectedType}, got ${tensor.type}`);
    if (tensor.type === 'float16' && !(tensor.data instanceof Uint16Array || isFloat16Array(tensor.data))) {
      throw new TypeError(`feeds: input '${info.name}' is float16: its data must be a Uint16Array of half bit patterns or a Float16Array, got ${dataKind(tensor.data)}`);
    }
    const shape = shapeOf(info);
    const axis = plan.inputs.find((i) => i.name === info.name)?.axis ?? null;
    if (shape !== undefined) {
      if (tensor.dims.length !== shape.length) throw new TypeError(`feeds: input '${info.name}' must have rank ${shape.length} ([${shape.join(', ')}]), got [${tensor.dims.join(', ')}]`);
      shape.forEach((dim, k) => {
        if (k !== axis && typeof dim === 'number' && dim >= 0 && tensor.dims[k] !== dim) {
          throw new TypeError(`feeds: input '${info.name}' dim ${k} must be ${dim}, got ${tensor.dims[k]}`);
        }
      });
    }
    if (axis !== null) {
      const size = tensor.dims[axis];
      if (size === undefined) throw new TypeError(`feeds: input '${info.name}' has no axis ${axis} to split`);
      if (batch === undefined) batch = { size, from: info.name };
      else if (batch.size !== size) throw new TypeError(`feeds: input '${info.name}' has batch ${size} on axis ${axis}, but '${batch.from}' has ${batch.size}`);
    }
  }
  return { batch: batch?.size ?? 0 };
}

const dataKind = (data: unknown): string => (typeof data === 'object' && data !== null ? data.constructor.name : typeof data);
