/** Parsing of the CLI's NAME=VALUE lists, with errors that quote the option. */
import { InputError } from '../errors.js';
import { normalizeCudaOption } from '../runtime/gpu/cuda-options.js';
import { normalizeTensorrtOption } from '../runtime/gpu/tensorrt-options.js';
import { combineModes, MAX_DEVICES, type CombineMode } from '../transform/options.js';

function pairs(option: string, values: readonly string[] | undefined): Array<[string, string]> {
  return (values ?? []).map((entry) => {
    const at = entry.lastIndexOf('=');
    if (at <= 0 || at === entry.length - 1) throw new InputError(`--${option} ${entry}: expected NAME=VALUE`);
    return [entry.slice(0, at), entry.slice(at + 1)];
  });
}

export function parseAxes(values: readonly string[] | undefined): Record<string, number | null> {
  const axes: Record<string, number | null> = {};
  for (const [name, value] of pairs('axis', values)) {
    if (value === 'none') axes[name] = null;
    else if (/^-?\d+$/.test(value)) axes[name] = Number(value);
    else throw new InputError(`--axis ${name}=${value}: the axis must be a whole number, or 'none' for an input fed whole to every replica`);
  }
  return axes;
}

export function parseCombine(values: readonly string[] | undefined): Record<string, CombineMode> {
  const combine: Record<string, CombineMode> = {};
  for (const [name, value] of pairs('combine', values)) {
    if (!combineModes.includes(value as CombineMode)) throw new InputError(`--combine ${name}=${value}: use one of ${combineModes.join(', ')}`);
    combine[name] = value as CombineMode;
  }
  return combine;
}

export function parseFiles(option: string, values: readonly string[] | undefined): Record<string, string> {
  return Object.fromEntries(pairs(option, values));
}

export function parseWeights(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((part) => {
    const weight = Number(part.trim());
    if (part.trim() === '' || !Number.isFinite(weight) || weight <= 0) throw new InputError(`--weights ${value}: each weight must be a positive number`);
    return weight;
  });
}

/** --devices cuda:0,cuda:2 (comma-separated, repeatable). */
export function parseDevices(values: readonly string[] | undefined): string[] | undefined {
  if (values === undefined || values.length === 0) return undefined;
  return values.flatMap((v) => v.split(',')).map((d) => d.trim());
}

/** `--gpus N` or `--gpus all`: a count, or 'all' (every GPU CUDA sees). */
export function parseGpus(value: string | number): number | 'all' {
  const text = String(value).trim();
  if (text === 'all') return 'all';
  if (!/^\d+$/.test(text)) throw new InputError(`--gpus must be a whole number >= 1 and at most ${MAX_DEVICES}, or 'all' (got ${text})`);
  return Number(text);
}

/** --cuda-option or --tensorrt-option values: options for every CUDA device, and per device (`KEY=VALUE@cuda:K`), normalized. */
export interface ProviderOptionArgs {
  all: Record<string, string>;
  perDevice: Record<string, Record<string, string>>;
}

/** `--FLAG KEY=VALUE[@cuda:K]` (repeatable); each checked by `normalize` as onnxruntime's provider takes it. */
function parseProviderOptions(flag: string, example: string, values: readonly string[] | undefined, normalize: (where: string, name: string, value: string) => string): ProviderOptionArgs {
  const parsed: ProviderOptionArgs = { all: {}, perDevice: {} };
  for (const entry of values ?? []) {
    const match = /^([^=@]+)=(.*?)(?:@([^@=]*))?$/.exec(entry.trim());
    if (match === null || match[2] === '') throw new InputError(`${flag} ${entry}: expected KEY=VALUE, or KEY=VALUE@cuda:K for one device (e.g. ${example})`);
    const [, key, value, device] = match;
    if (device !== undefined && !/^cuda:\d+$/.test(device)) throw new InputError(`${flag} ${entry}: '${device}' is not a CUDA device; give @cuda:K, or no @ for every CUDA device`);
    const scope = device === undefined ? parsed.all : (parsed.perDevice[device] ??= {});
    const name = key!.trim();
    if (name in scope) throw new InputError(`${flag} ${entry}: ${name} is given twice${device === undefined ? '' : ` for ${device}`}`);
    scope[name] = normalize(`${flag} ${entry}`, name, value!);
  }
  return parsed;
}

/** `--cuda-option KEY=VALUE[@cuda:K]` (repeatable); each checked as onnxruntime's CUDA provider takes it. */
export function parseCudaOptions(values: readonly string[] | undefined): ProviderOptionArgs {
  return parseProviderOptions('--cuda-option', 'gpu_mem_limit=8GiB@cuda:1', values, normalizeCudaOption);
}

/** `--tensorrt-option KEY=VALUE[@cuda:K]` (repeatable); each checked as onnxruntime's TensorRT provider takes it. */
export function parseTensorrtOptions(values: readonly string[] | undefined): ProviderOptionArgs {
  return parseProviderOptions('--tensorrt-option', 'trt_fp16_enable=1@cuda:1', values, normalizeTensorrtOption);
}
