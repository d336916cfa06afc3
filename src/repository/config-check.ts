/**
 * A configuration checked against its model, as Triton's onnxruntime backend checks it when it loads the model
 * (ValidateInputs, ValidateOutputs, CompareDimsSupported): as many inputs as the model has, each input and output
 * a tensor of the model with the same data type, and dims (the reshape, when given) that fit the model's shape,
 * with the batch dim in front when max_batch_size > 0.
 */
import type { ModelDescription, ModelTensor } from './auto-complete.js';
import type { ModelConfig, ModelTensorConfig } from './model-config.js';

const shapeText = (dims: readonly number[]): string => `[${dims.join(',')}]`;

/** Why the configuration does not fit the model, in Triton's words, or undefined when it fits. */
export function configMismatch(config: ModelConfig, model: ModelDescription): string | undefined {
  const name = config.name ?? '';
  const maxBatch = config.max_batch_size ?? 0;
  const inputs = config.input ?? [];
  const { signature } = model;
  const expected = inputs.length + ((config['batch_input'] as unknown[] | undefined)?.length ?? 0);
  if (signature.inputs.length !== expected) return `unable to load model '${name}', configuration expects ${expected} inputs, model provides ${signature.inputs.length}`;
  for (const [kind, configured, declared] of [['input', inputs, signature.inputs], ['output', config.output ?? [], signature.outputs]] as const) {
    for (const tensor of configured) {
      const problem = tensorMismatch(name, kind, tensor, declared, maxBatch);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

function tensorMismatch(model: string, kind: 'input' | 'output', tensor: ModelTensorConfig, declared: readonly ModelTensor[], maxBatch: number): string | undefined {
  const name = tensor.name ?? '';
  const found = declared.find((t) => t.name === name);
  if (found === undefined) return `unexpected inference ${kind} '${name}', allowed ${kind}s are: ${declared.map((t) => t.name).join(', ')}`;
  const dataType = tensor.data_type ?? 'TYPE_INVALID';
  if (found.dataType !== dataType) return `unable to load model '${model}', configuration expects datatype ${dataType} for ${kind} '${name}', model provides ${found.dataType ?? 'a type Triton has no name for'}`;
  if (tensor.is_shape_tensor === true) return undefined;
  const dims = tensor.reshape !== undefined ? (tensor.reshape.shape ?? []) : (tensor.dims ?? []);
  const shape = found.shape;
  if (shape === undefined) return undefined;
  const where = `model '${model}', tensor '${name}'`;
  if (shape.length === 0) {
    if (maxBatch === 0 && dims.some((d) => d !== 1)) return `unable to load model '${model}', scalar tensor '${name}', should only provide 1 in the model configuration when the model doesn't support batching. Model configuration provided: ${shapeText(dims)}.`;
    return undefined;
  }
  if (maxBatch > 0 && shape[0] !== -1) {
    return `${where}: for the model to support batching the shape should have at least 1 dimension and the first dimension must be -1; but shape expected by the model is ${shapeText(shape)}`;
  }
  const full = maxBatch > 0 ? [-1, ...dims] : [...dims];
  const said = maxBatch > 0 ? `an initial batch dimension because max_batch_size > 0 followed by the explicit tensor shape, making complete shape ${shapeText(full)}` : `shape ${shapeText(full)}`;
  if (full.length !== shape.length) return `${where}: the model expects ${shape.length} dimensions (shape ${shapeText(shape)}) but the model configuration specifies ${full.length} dimensions (${said})`;
  const differs = shape.some((d, i) => d !== -1 && d !== full[i]);
  if (differs) return `${where}: the model expects dims ${shapeText(shape)} but the model configuration specifies dims ${shapeText(full)}`;
  return undefined;
}
