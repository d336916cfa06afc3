/**
 * libuv's thread pool, on which every run through the C API waits for onnxruntime: one thread per run in flight.
 * Its size is read once, when the process first uses the pool, from UV_THREADPOOL_SIZE (default 4, at most 1024).
 */
const DEFAULT_SIZE = 4;
const MAX_SIZE = 1024;

export function threadPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env['UV_THREADPOOL_SIZE']);
  return Number.isInteger(given) && given > 0 ? Math.min(given, MAX_SIZE) : DEFAULT_SIZE;
}

/**
 * Why `devices` devices would wait for each other's runs, or undefined: each needs a thread of the pool for its
 * run. A pool of exactly one thread per device is what CPU devices that take every core run best on (each
 * device's next run goes to the thread that has just finished its last, still warm, instead of waking one that
 * has slept longest); file system, DNS and compression work then waits behind runs, so a process that does much
 * of it wants one or two threads more.
 */
export function threadPoolShortage(devices: number, size = threadPoolSize()): string | undefined {
  if (devices <= size) return undefined;
  return `${devices} devices run on libuv's thread pool of ${size} threads, so some would wait for others' runs; start Node with UV_THREADPOOL_SIZE=${devices} (or ${devices + 2}, for a process with file system or DNS work besides) in its environment`;
}
