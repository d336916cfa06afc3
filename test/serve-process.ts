/** A serving process run as a user runs it: started, read line by line, and stopped by a signal. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { repoRoot } from './helpers.js';

export interface Running {
  child: ChildProcess;
  line: string;
  stderr: () => string;
  /** Everything written to stdout so far. */
  stdout: () => string;
  /** Sends `signal`; resolves to the exit code (kills the process if it has not ended 30 s later). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node args...` and waits for its first line on stdout. */
export async function launch(args: string[], ready: RegExp): Promise<Running> {
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = await exited;
    clearTimeout(timer);
    return code;
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready in 60 s: ${stderr}`)), 60_000);
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (ready.test(stdout.trim())) {
          clearTimeout(timer);
          resolve(stdout.trim());
        }
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`exited with code ${code}: ${stderr}`));
      });
    });
    return { child, line, stderr: () => stderr, stdout: () => stdout, stop };
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
}

