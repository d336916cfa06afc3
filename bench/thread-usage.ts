/**
 * Per-thread figures of this process from /proc/self/task (Linux; undefined elsewhere): the main thread's CPU
 * time, and the page faults taken by every other thread (libuv's pool, where onnxruntime runs a device's runs).
 * They hold while other programs load the machine, which wall-clock ratios do not.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/self/task/TID/stat after the command name: [7] minflt, [11] utime, [12] stime (clock ticks). */
function statFields(tid: string): string[] | undefined {
  try {
    const text = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // the thread ended meanwhile
  }
}

const linux = process.platform === 'linux';
/** Clock ticks per second of /proc's times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** The main thread's CPU time so far in ms (10 ms resolution), or undefined off Linux. */
export function mainThreadCpuMs(): number | undefined {
  if (!linux) return undefined;
  const f = statFields(String(process.pid));
  return f === undefined ? undefined : ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
}

/** Minor page faults taken so far by the threads of this process other than the main one, or undefined off Linux. */
export function otherThreadsPageFaults(): number | undefined {
  if (!linux) return undefined;
  let faults = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (tid === String(process.pid)) continue;
    faults += Number(statFields(tid)?.[7] ?? 0);
  }
  return faults;
}
