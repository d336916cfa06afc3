/** The model's name in a Triton repository: a folder name that is safe on every file system Triton reads. */
import path from 'node:path';
import { InputError } from '../errors.js';

const safeName = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

export function checkModelName(name: string): void {
  if (!safeName.test(name)) {
    throw new InputError(`--name '${name}': not a safe folder name for the model; use up to 200 letters, digits, '_', '-' and '.' (not first)`);
  }
}

/** The model file's stem made safe as a folder name: `my model (v2).onnx` -> `my_model_v2_`. */
export function defaultModelName(file: string): string {
  const parsed = path.parse(file);
  const stem = parsed.ext.toLowerCase() === '.onnx' ? parsed.name : parsed.base;
  const name = stem.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[.-]+/, '').slice(0, 200);
  return name === '' ? 'model' : name;
}
