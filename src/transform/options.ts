/** Options of the data-parallel rewrite, checked early with errors that quote the option. */
import { InputError } from '../errors.js';

export type CombineMode = 'first' | 'sum' | 'mean' | 'max' | 'stack';
export const combineModes: readonly CombineMode[] = ['first', 'sum', 'mean', 'max', 'stack'];

export interface ParallelizeOptions {
  /** One entry per replica: `cuda:K` or `cpu`. */
  devices: string[];
  /** Relative share of the batch of each device; balanced when absent. */
  weights?: number[];
  /** Batch axis of an input or output by name; `null` means it has no batch axis (fed whole to every replica). */
  axes?: Record<string, number | null>;
  /** How to combine outputs that have no batch axis. */
  combine?: Record<string, CombineMode>;
  /** The IR version to write: 11 (default) writes IR 11 device annotations and metadata_props, 10 only metadata_props, lower only names. */
  irVersion?: number;
}

const devicePattern = /^(cpu|cuda:\d+)$/;

/** Whether `device` names a device: `cuda:K` or `cpu`. */
export const isDevice = (device: unknown): device is string => typeof device === 'string' && devicePattern.test(device);

/** The most replicas a model is rewritten into: each is a copy of the graph, so this bounds the output's size. */
export const MAX_DEVICES = 1024;

export function gpuDevices(count: unknown): string[] {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_DEVICES) {
    throw new InputError(`--gpus must be a whole number >= 1 and at most ${MAX_DEVICES} (got ${String(count)})`);
  }
  return Array.from({ length: count }, (_, i) => `cuda:${i}`);
}

export function checkOptions(options: ParallelizeOptions): void {
  const { devices, weights } = options;
  if (!Array.isArray(devices) || devices.length < 1) throw new InputError('devices: give at least one device (for example cuda:0)');
  if (devices.length > MAX_DEVICES) throw new InputError(`devices: ${devices.length} devices given; at most ${MAX_DEVICES} replicas are supported`);
  for (const device of devices) {
    if (!isDevice(device)) throw new InputError(`devices: '${String(device)}' is not a device; use cuda:K or cpu`);
  }
  if (weights !== undefined) {
    if (!Array.isArray(weights)) throw new InputError('--weights: give one positive number per device');
    if (weights.length !== devices.length) {
      throw new InputError(`--weights has ${weights.length} values for ${devices.length} devices; give one weight per device`);
    }
    for (const weight of weights) {
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) throw new InputError(`--weights must all be positive numbers (got ${String(weight)})`);
    }
  }
  if (options.irVersion !== undefined && (!Number.isInteger(options.irVersion) || options.irVersion < 3 || options.irVersion > 11)) {
    throw new InputError(`--ir-version must be a whole number from 3 to 11 (got ${options.irVersion})`);
  }
  for (const [name, axis] of Object.entries(options.axes ?? {})) {
    if (axis !== null && !Number.isSafeInteger(axis)) throw new InputError(`--axis ${name}=${String(axis)}: the axis must be a whole number, or 'none' for an input fed whole to every replica`);
  }
  for (const [name, mode] of Object.entries(options.combine ?? {})) {
    if (!combineModes.includes(mode)) throw new InputError(`--combine ${name}=${String(mode)}: use one of ${combineModes.join(', ')}`);
  }
}
