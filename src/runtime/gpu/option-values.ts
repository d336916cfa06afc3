/**
 * The kinds of value an execution provider option takes, and their normalization to the string onnxruntime's
 * option parser (ProviderOptionsParser, ParseStringWithClassicLocale) reads: a size_t of bytes, a bool ('1' or
 * '0'), an int in a range, an enum by its name, or a string. A value that does not fit is an ArgumentError that
 * quotes where it was given, the option and the value.
 */
import { ArgumentError } from '../../errors.js';

/** Option values as the library takes them: strings (as on the command line), numbers or booleans. */
export type ProviderOptionValue = string | number | boolean;

export type OptionKind =
  /** A size_t: a whole number of bytes, or one with a unit (8GiB, 500MB). */
  | { bytes: true }
  /** A bool: 1/0, true/false. */
  | { flag: true }
  /** An int from `min` to `max`. */
  | { int: { min: number; max: number } }
  /** An enum: one of `names`, any case, or its number (its place in `names`). */
  | { names: readonly string[] }
  /** A string: a path, a list, shapes. */
  | { text: true };

const INT_MAX = 2 ** 31 - 1;

/** Why an option onnxruntime reads as an address in the process cannot be given. */
export const POINTER_REASON = 'it is an address in one process (onnxruntime reads it as a pointer), which no option value can carry safely';

/** The stream options the CUDA and TensorRT providers both parse, refused for the same reason. */
export const STREAM_REFUSALS: Readonly<Record<string, string>> = {
  has_user_compute_stream: `it goes with user_compute_stream, and ${POINTER_REASON}; each device's session makes its own CUDA streams`,
  user_compute_stream: `it is a CUDA stream, and ${POINTER_REASON}; each device's session makes its own CUDA streams`,
};
/** A non-negative int, as most of onnxruntime's int options are. */
export const WHOLE: OptionKind = { int: { min: 0, max: INT_MAX } };
export const BYTES: OptionKind = { bytes: true };
export const FLAG: OptionKind = { flag: true };
export const TEXT: OptionKind = { text: true };
export const intFrom = (min: number, max = INT_MAX): OptionKind => ({ int: { min, max } });

const SIZE_UNITS: Record<string, bigint> = { '': 1n, b: 1n, kb: 10n ** 3n, mb: 10n ** 6n, gb: 10n ** 9n, tb: 10n ** 12n, kib: 1n << 10n, mib: 1n << 20n, gib: 1n << 30n, tib: 1n << 40n };
const MAX_SIZE_T = (1n << 64n) - 1n;

/** A byte count: a whole number (5000000000, 5e9) or one with a unit (8GiB, 500MB); undefined when it is not one. */
function parseBytes(value: ProviderOptionValue): bigint | undefined {
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

function parseFlag(value: ProviderOptionValue): '0' | '1' | undefined {
  if (value === true || value === 1 || (typeof value === 'string' && /^(1|true)$/i.test(value.trim()))) return '1';
  if (value === false || value === 0 || (typeof value === 'string' && /^(0|false)$/i.test(value.trim()))) return '0';
  return undefined;
}

function parseInt32(value: ProviderOptionValue, min: number, max: number): string | undefined {
  const number = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= min && number <= max ? String(number) : undefined;
}

/** An enum value by name (any case) or by its number, as onnxruntime's C enums count them. */
function parseName(value: ProviderOptionValue, names: readonly string[]): string | undefined {
  if (typeof value === 'number' || (typeof value === 'string' && /^\s*\d+\s*$/.test(value))) return names[Number(value)];
  return typeof value === 'string' ? names.find((n) => n.toLowerCase() === value.trim().toLowerCase()) : undefined;
}

/** What a value of `kind` looks like, for errors. */
export function describeKind(kind: OptionKind): string {
  if ('bytes' in kind) return 'a number of bytes, such as 5000000000, 5e9 or 8GiB';
  if ('flag' in kind) return '1 or 0 (true or false)';
  if ('int' in kind) return kind.int.max === INT_MAX ? `a whole number >= ${kind.int.min}` : `a whole number from ${kind.int.min} to ${kind.int.max}`;
  if ('names' in kind) return `one of ${kind.names.join(', ')}`;
  return 'a non-empty string';
}

/** `value` as the string onnxruntime parses for an option of `kind`; an ArgumentError quoting `where` and `name` when it does not fit. */
export function normalizeOptionValue(where: string, name: string, kind: OptionKind, value: unknown): string {
  const given = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : undefined;
  let normalized: string | undefined;
  if (given !== undefined) {
    if ('bytes' in kind) normalized = parseBytes(given)?.toString();
    else if ('flag' in kind) normalized = parseFlag(given);
    else if ('int' in kind) normalized = parseInt32(given, kind.int.min, kind.int.max);
    else if ('names' in kind) normalized = parseName(given, kind.names);
    // onnxruntime takes a string as it is; one with a NUL would be cut short on its way through the C API.
    else normalized = typeof given === 'string' && given !== '' && !given.includes('\0') ? given : undefined;
  }
  if (normalized === undefined) {
    const shown = typeof value === 'string' ? `'${value}'` : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
    throw new ArgumentError(`${where}: ${name} must be ${describeKind(kind)} (got ${shown})`);
  }
  return normalized;
}

/** One provider's options: what each takes, and those that cannot be given here with the reason. */
export interface ProviderCatalogue {
  /** The provider as users name it: 'CUDA', 'TensorRT'. */
  provider: string;
  options: Readonly<Record<string, OptionKind>>;
  refused: Readonly<Record<string, string>>;
  /** Where an option that is not this provider's belongs, when it is another provider's (trt_fp16_enable given as a CUDA option). */
  belongsElsewhere?: (name: string) => string | undefined;
}

/** One option of `catalogue` normalized to the string onnxruntime parses; an ArgumentError quoting `where` otherwise. */
export function normalizeProviderOption(catalogue: ProviderCatalogue, where: string, name: string, value: unknown): string {
  const refused = catalogue.refused[name];
  if (refused !== undefined) throw new ArgumentError(`${where}: ${name} cannot be set here: ${refused}`);
  const kind = catalogue.options[name];
  const elsewhere = kind === undefined ? catalogue.belongsElsewhere?.(name) : undefined;
  if (elsewhere !== undefined) throw new ArgumentError(`${where}: ${name} is not a ${catalogue.provider} provider option: ${elsewhere}`);
  if (kind === undefined) {
    throw new ArgumentError(`${where}: Unknown provider option: "${name}" (the ${catalogue.provider} provider's options are ${Object.keys(catalogue.options).join(', ')})`);
  }
  return normalizeOptionValue(where, name, kind, value);
}

/** Every option of `options` (an object) normalized; `where` names the object in errors. */
export function normalizeProviderOptions(catalogue: ProviderCatalogue, where: string, options: unknown, example: string): Record<string, string> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ArgumentError(`${where}: expected an object of ${catalogue.provider} provider options, such as ${example}`);
  }
  return Object.fromEntries(Object.entries(options).map(([name, value]) => [name, normalizeProviderOption(catalogue, where, name, value)]));
}
