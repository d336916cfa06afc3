/**
 * `sessionOptions.preferredOutputLocation`, onnxruntime's option for where outputs are left: 'cpu' (read into
 * JavaScript memory, the default) or 'gpu-buffer' (kept in the device's own memory: a GPU's, or onnxruntime's on
 * a CPU device), for all outputs or by output name. Checked once, before any device starts.
 */
import type * as ort from 'onnxruntime-node';
import type { ValueInfoProto } from '../../onnx.js';
import { elemTypeOf } from '../../graph/types.js';
import { ortTypeOf } from '../../tensors/ort-types.js';
import { ArgumentError } from '../../errors.js';
import { DEVICE_TENSOR_TYPES } from '../memory/device-values.js';

const FIELD = 'options.sessionOptions.preferredOutputLocation';

function location(value: unknown, where: string): boolean {
  if (value === 'cpu') return false;
  if (value === 'gpu-buffer') return true;
  if (value === 'cpu-pinned') throw new ArgumentError(`${where}: 'cpu-pinned' is not a place ParallelSession leaves outputs; give the run page-locked tensors from allocateOutput() in options.outputs (they are page-locked on a session with CUDA devices)`);
  throw new ArgumentError(`${where} must be 'cpu' or 'gpu-buffer' (got ${JSON.stringify(value)})`);
}

/** Per output, in `outputNames` order: whether it stays in the device's memory. */
export function keptOutputs(option: ort.InferenceSession.SessionOptions['preferredOutputLocation'], outputNames: readonly string[], outputs: readonly ValueInfoProto[]): boolean[] {
  if (option === undefined) return outputNames.map(() => false);
  let kept: boolean[];
  if (typeof option === 'string') kept = outputNames.map(() => location(option, FIELD));
  else if (typeof option === 'object' && option !== null && !Array.isArray(option)) {
    for (const name of Object.keys(option)) {
      if (!outputNames.includes(name)) throw new ArgumentError(`${FIELD}: '${name}' is not an output of the model (outputs: ${outputNames.join(', ')})`);
    }
    kept = outputNames.map((name) => (Object.hasOwn(option, name) ? location(option[name], `${FIELD}['${name}']`) : false));
  } else throw new ArgumentError(`${FIELD} must be 'cpu', 'gpu-buffer' or { outputName: 'cpu' | 'gpu-buffer' } (got ${JSON.stringify(option)})`);
  outputNames.forEach((name, j) => {
    if (!kept[j]) return;
    const info = outputs.find((o) => o.name === name);
    const elemType = info === undefined ? undefined : elemTypeOf(info);
    const type = elemType === undefined ? undefined : ortTypeOf[elemType];
    if (type === undefined || !DEVICE_TENSOR_TYPES.has(type)) {
      throw new ArgumentError(`${FIELD}: output '${name}' is ${type ?? 'not a tensor of a known type'}, which onnxruntime-node's tensors cannot hold in device memory (they take ${[...DEVICE_TENSOR_TYPES].join(', ')}); leave it on the CPU: { '${name}': 'cpu' }`);
    }
  });
  return kept;
}
