/**
 * OrtSessionOptions made from onnxruntime-node's `InferenceSession.SessionOptions`, field by field as
 * onnxruntime-node's binding sets them. Execution providers are appended separately (providers.ts), as
 * `executionProviders` is decided per device.
 */
import type * as ort from 'onnxruntime-node';
import { ArgumentError } from '../../errors.js';
import { ortApi, type Handle } from './library.js';
import { check, Out } from './status.js';

const optimizationLevels: Record<string, number> = { disabled: 0, basic: 1, extended: 2, layout: 3, all: 99 };
const executionModes: Record<string, number> = { sequential: 0, parallel: 1 };

/** `extra` entries as session config entries: nested objects joined with '.' (`{ session: { a: '1' } }` is `session.a`). */
function configEntries(extra: unknown, prefix = ''): Array<[string, string]> {
  if (typeof extra !== 'object' || extra === null) return [];
  return Object.entries(extra as Record<string, unknown>).flatMap(([key, value]) =>
    typeof value === 'object' && value !== null ? configEntries(value, `${prefix}${key}.`) : [[`${prefix}${key}`, String(value)] as [string, string]],
  );
}

const where = (field: string): string => `options.sessionOptions.${field}`;

/** A whole number in [min, max] for option `field`, or an ArgumentError naming it. */
function wholeNumber(field: string, value: unknown, min: number, max = 2 ** 31 - 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new ArgumentError(`${where(field)} must be a whole number from ${min} to ${max} (got ${String(value)})`);
  return value;
}

function oneOf(field: string, value: unknown, names: Record<string, number>): number {
  const number = typeof value === 'string' ? names[value] : undefined;
  if (number === undefined) throw new ArgumentError(`${where(field)} must be one of ${Object.keys(names).map((n) => `'${n}'`).join(', ')} (got ${JSON.stringify(value)})`);
  return number;
}

/**
 * Session options holding what `options` says (providers aside). The caller owns the result and releases it
 * with releaseSessionOptions, also when a later step fails. Throws an ArgumentError naming a bad field.
 */
export function createSessionOptions(options: ort.InferenceSession.SessionOptions): Handle {
  const api = ortApi();
  const out = new Out();
  check(api, api.CreateSessionOptions(out.cell));
  const handle = out.value;
  try {
    const set = (status: unknown): void => check(api, status);
    if (options.graphOptimizationLevel !== undefined) set(api.SetSessionGraphOptimizationLevel(handle, oneOf('graphOptimizationLevel', options.graphOptimizationLevel, optimizationLevels)));
    if (options.intraOpNumThreads !== undefined) set(api.SetIntraOpNumThreads(handle, wholeNumber('intraOpNumThreads', options.intraOpNumThreads, 0)));
    if (options.interOpNumThreads !== undefined) set(api.SetInterOpNumThreads(handle, wholeNumber('interOpNumThreads', options.interOpNumThreads, 0)));
    if (options.executionMode !== undefined) set(api.SetSessionExecutionMode(handle, oneOf('executionMode', options.executionMode, executionModes)));
    if (options.enableCpuMemArena !== undefined) set(options.enableCpuMemArena ? api.EnableCpuMemArena(handle) : api.DisableCpuMemArena(handle));
    if (options.enableMemPattern !== undefined) set(options.enableMemPattern ? api.EnableMemPattern(handle) : api.DisableMemPattern(handle));
    if (options.logId !== undefined) set(api.SetSessionLogId(handle, String(options.logId)));
    if (options.logSeverityLevel !== undefined) set(api.SetSessionLogSeverityLevel(handle, wholeNumber('logSeverityLevel', options.logSeverityLevel, 0, 4)));
    if (options.logVerbosityLevel !== undefined) set(api.SetSessionLogVerbosityLevel(handle, wholeNumber('logVerbosityLevel', options.logVerbosityLevel, 0)));
    for (const [name, value] of Object.entries(options.freeDimensionOverrides ?? {})) {
      set(api.AddFreeDimensionOverrideByName(handle, name, wholeNumber(`freeDimensionOverrides['${name}']`, value, 0, Number.MAX_SAFE_INTEGER)));
    }
    for (const [key, value] of configEntries(options.extra)) set(api.AddSessionConfigEntry(handle, key, value));
    if (options.optimizedModelFilePath !== undefined) set(api.SetOptimizedModelFilePath(handle, String(options.optimizedModelFilePath)));
    if (options.enableProfiling === true) set(api.EnableProfiling(handle, options.profileFilePrefix ?? 'onnxruntime_profile_'));
    return handle;
  } catch (error) {
    api.ReleaseSessionOptions(handle);
    throw error;
  }
}

export function releaseSessionOptions(handle: Handle): void {
  ortApi().ReleaseSessionOptions(handle);
}
