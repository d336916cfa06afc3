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

export function gpuDevices(count: unknown): string[] {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) {
    throw new InputError(`--gpus must be a whole number >= 1 (got ${String(count)})`);
  }
  return Array.from({ length: count }, (_, i) => `cuda:${i}`);
}

export function checkOptions(options: ParallelizeOptions): void {
  const { devices, weights } = options;
  if (!Array.isArray(devices) || devices.length < 1) throw new InputError('devices: give at least one device (for example cuda:0)');
  for (const device of devices) {
    if (!devicePattern.test(device)) throw new InputError(`devices: '${device}' is not a device; use cuda:K or cpu`);
  }
  if (weights !== undefined) {
    if (weights.length !== devices.length) {
      throw new InputError(`--weights has ${weights.length} values for ${devices.length} devices; give one weight per device`);
    }
    for (const weight of weights) {
      if (!Number.isFinite(weight) || weight <= 0) throw new InputError(`--weights must all be positive numbers (got ${weight})`);
    }
  }
  if (options.irVersion !== undefined && (!Number.isInteger(options.irVersion) || options.irVersion < 3 || options.irVersion > 11)) {
    throw new InputError(`--ir-version must be a whole number from 3 to 11 (got ${options.irVersion})`);
  }
  for (const [name, mode] of Object.entries(options.combine ?? {})) {
    if (!combineModes.includes(mode)) throw new InputError(`--combine ${name}=${String(mode)}: use one of ${combineModes.join(', ')}`);
  }
}
