/**
 * onnxruntime's CUDA execution provider options (the keys of OrtCUDAProviderOptionsV2, as onnxruntime's
 * UpdateCUDAProviderOptions and Python's provider_options take them): names and values checked early, with
 * onnxruntime's wording for an unknown name, and normalized to the strings onnxruntime parses.
 */
import { ArgumentError } from '../../errors.js';

/** Option values as the library takes them: strings (as on the command line), numbers or booleans. */
export type CudaOptionValue = string | number | boolean;
export type CudaProviderOptions = Record<string, CudaOptionValue>;

type Kind = { bytes: true } | { whole: true } | { flag: true } | { names: readonly string[] };

/** The options a user can set, by name. */
export const CUDA_OPTIONS: Readonly<Record<string, Kind>> = {
  gpu_mem_limit: { bytes: true },
  arena_extend_strategy: { names: ['kNextPowerOfTwo', 'kSameAsRequested'] },
  cudnn_conv_algo_search: { names: ['EXHAUSTIVE', 'HEURISTIC', 'DEFAULT'] },
  do_copy_in_default_stream: { flag: true },
  cudnn_conv_use_max_workspace: { flag: true },
  cudnn_conv1d_pad_to_nc1d: { flag: true },
  enable_cuda_graph: { flag: true },
  enable_skip_layer_norm_strict_mode: { flag: true },
  prefer_nhwc: { flag: true },
  use_ep_level_unified_stream: { flag: true },
  use_tf32: { flag: true },
  fuse_conv_bias: { flag: true },
  sdpa_kernel: { whole: true },
  tunable_op_enable: { flag: true },
  tunable_op_tuning_enable: { flag: true },
  tunable_op_max_tuning_duration_ms: { whole: true },
};

/** Options onnxruntime has that cannot be given here, and why. */
const REFUSED: Readonly<Record<string, string>> = {
  device_id: 'each device sets its own (cuda:K runs with device_id K); give per-device options for cuda:K instead',
  has_user_compute_stream: 'it goes with a CUDA stream of this process, which cannot be passed to a worker',
  user_compute_stream: 'it is a CUDA stream of this process, which cannot be passed to a worker',
  gpu_external_alloc: 'it is a function pointer of this process, which cannot be passed to a worker',
  gpu_external_free: 'it is a function pointer of this process, which cannot be passed to a worker',
  gpu_external_empty_cache: 'it is a function pointer of this process, which cannot be passed to a worker',
  default_memory_arena_cfg: 'it is an OrtArenaCfg object, which onnxruntime-node cannot make; use gpu_mem_limit and arena_extend_strategy',
};

const SIZE_UNITS: Record<string, bigint> = { '': 1n, b: 1n, kb: 10n ** 3n, mb: 10n ** 6n, gb: 10n ** 9n, tb: 10n ** 12n, kib: 1n << 10n, mib: 1n << 20n, gib: 1n << 30n, tib: 1n << 40n };
const MAX_SIZE_T = (1n << 64n) - 1n;

/** A byte count: a whole number (5000000000, 5e9) or one with a unit (8GiB, 500MB); undefined when it is not one. */
function parseBytes(value: CudaOptionValue): bigint | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const unit = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*$/i.exec(value);
  if (unit !== null) {
    const [whole, fraction = ''] = unit[1]!.split('.');
    const scale = 10n ** BigInt(fraction.length);
    const bytes = (BigInt(whole! + fraction) * SIZE_UNITS[unit[2]!.toLowerCase()]!) / scale;
    return bytes <= MAX_SIZE_T ? bytes : undefined;
  }
  if (/^\s*\d+\s*$/.test(value)) return BigInt(value.trim()) <= MAX_SIZE_T ? BigInt(value.trim()) : undefined;
  const number = Number(value);
  return value.trim() !== '' && Number.isSafeInteger(number) && number >= 0 ? BigInt(number) : undefined;
}

function parseFlag(value: CudaOptionValue): '0' | '1' | undefined {
  if (value === true || value === 1 || (typeof value === 'string' && /^(1|true)$/i.test(value.trim()))) return '1';
  if (value === false || value === 0 || (typeof value === 'string' && /^(0|false)$/i.test(value.trim()))) return '0';
  return undefined;
}

function parseWhole(value: CudaOptionValue): string | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 0 && number <= 2 ** 31 - 1 ? String(number) : undefined;
}

/** An enum value by name (any case) or by its number, as onnxruntime's C enums count them. */
function parseName(value: CudaOptionValue, names: readonly string[]): string | undefined {
  if (typeof value === 'number' || (typeof value === 'string' && /^\s*\d+\s*$/.test(value))) return names[Number(value)];
  return typeof value === 'string' ? names.find((n) => n.toLowerCase() === value.trim().toLowerCase()) : undefined;
}

/** The value of one option as onnxruntime parses it; throws an ArgumentError quoting `where` when it does not fit. */
export function normalizeCudaOption(where: string, name: string, value: unknown): string {
  const refused = REFUSED[name];
  if (refused !== undefined) throw new ArgumentError(`${where}: ${name} cannot be set here: ${refused}`);
  const kind = CUDA_OPTIONS[name];
  if (kind === undefined) throw new ArgumentError(`${where}: Unknown provider option: "${name}" (the CUDA provider's options are ${Object.keys(CUDA_OPTIONS).join(', ')})`);
  const given = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
  const shown = typeof value === 'string' ? `'${value}'` : String(value);
  if ('bytes' in kind) {
    const bytes = given === undefined ? undefined : parseBytes(given);
    if (bytes === undefined) throw new ArgumentError(`${where}: ${name} must be a number of bytes, such as 5000000000, 5e9 or 8GiB (got ${shown})`);
    return bytes.toString();
  }
  if ('flag' in kind) {
    const flag = given === undefined ? undefined : parseFlag(given);
    if (flag === undefined) throw new ArgumentError(`${where}: ${name} must be 1 or 0 (true or false) (got ${shown})`);
    return flag;
  }
  if ('whole' in kind) {
    const whole = given === undefined ? undefined : parseWhole(given);
    if (whole === undefined) throw new ArgumentError(`${where}: ${name} must be a whole number >= 0 (got ${shown})`);
    return whole;
  }
  const named = given === undefined ? undefined : parseName(given, kind.names);
  if (named === undefined) throw new ArgumentError(`${where}: ${name} must be one of ${kind.names.join(', ')} (got ${shown})`);
  return named;
}

/** Every option of `options` normalized; `where` names the object (an option path) in errors. */
export function normalizeCudaOptions(where: string, options: unknown): Record<string, string> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ArgumentError(`${where}: expected an object of CUDA provider options, such as { gpu_mem_limit: 5e9 }`);
  return Object.fromEntries(Object.entries(options).map(([name, value]) => [name, normalizeCudaOption(where, name, value)]));
}
