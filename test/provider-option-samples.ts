/**
 * A value of each kind of provider option as a user gives it, the string onnxruntime parses for it, and a value it
 * must refuse: for table-driven tests over every option of the CUDA and TensorRT catalogues.
 */
import type { OptionKind } from '../src/runtime/gpu/option-values.js';

export interface OptionSample {
  /** As given on the command line or in options. */
  given: string;
  /** What onnxruntime is handed. */
  normalized: string;
  /** A value of the wrong kind, and what the error says it must be. */
  wrong: string;
  must: RegExp;
}

export function sampleFor(kind: OptionKind): OptionSample {
  if ('bytes' in kind) return { given: '2GiB', normalized: String(2 * 2 ** 30), wrong: '-5', must: /must be a number of bytes, such as 5000000000, 5e9 or 8GiB \(got '-5'\)/ };
  if ('flag' in kind) return { given: 'true', normalized: '1', wrong: 'yes', must: /must be 1 or 0 \(true or false\) \(got 'yes'\)/ };
  if ('int' in kind) {
    const { min, max } = kind.int;
    const wrong = max < 2 ** 31 - 1 ? String(max + 1) : String(min - 1);
    return { given: ` ${max < 2 ** 31 - 1 ? max : min + 3} `, normalized: String(max < 2 ** 31 - 1 ? max : min + 3), wrong, must: new RegExp(`must be a whole number (>= ${min}|from ${min} to ${max}) \\(got '${wrong}'\\)`) };
  }
  if ('names' in kind) return { given: kind.names[1]!.toUpperCase(), normalized: kind.names[1]!, wrong: 'none_of_them', must: new RegExp(`must be one of ${kind.names.join(', ')} \\(got 'none_of_them'\\)`) };
  return { given: '/var/cache/trt engines', normalized: '/var/cache/trt engines', wrong: '', must: /must be a non-empty string \(got ''\)/ };
}
