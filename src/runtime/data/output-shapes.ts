/**
 * The shape of each model output for a run of a given number of rows, where the model says it before the run:
 * a numeric output whose dims are all fixed but its batch axis. Such an output can be written by onnxruntime
 * straight into a buffer made for it (the result's, or a request's rows of it) instead of one of its own.
 * A bfloat16 output is not: onnxruntime writes one only into a bfloat16 tensor, and the buffers made here are
 * onnxruntime-node tensors, which hold its bits as uint16.
 */
import { TensorProto_DataType, type ValueInfoProto } from '../../onnx.js';
import { elemTypeOf, shapeOf } from '../../graph/types.js';
import { ortTypeOf } from '../../tensors/ort-types.js';

/** For `rows` rows: the output's type and dims, or undefined where they are not known before the run. */
export type OutputShape = ((rows: number) => { type: string; dims: number[] }) | undefined;

export function outputShapes(infos: readonly ValueInfoProto[], outputs: ReadonlyArray<{ name: string; axis: number | null }>): OutputShape[] {
  return outputs.map(({ name, axis }) => {
    const info = infos.find((i) => i.name === name);
    const elemType = info === undefined ? undefined : elemTypeOf(info);
    const type = elemType === undefined ? undefined : ortTypeOf[elemType];
    const shape = info === undefined ? undefined : shapeOf(info);
    if (type === undefined || type === 'string' || elemType === TensorProto_DataType.BFLOAT16 || shape === undefined || axis === null) return undefined;
    if (!shape.every((d, k) => k === axis || typeof d === 'number') || typeof shape[axis] === 'number') return undefined;
    return (rows: number) => ({ type, dims: shape.map((d, k) => (k === axis ? rows : (d as number))) });
  });
}
