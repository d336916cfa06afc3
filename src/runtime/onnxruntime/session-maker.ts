/**
 * Sessions are made on one thread of their own, a worker that makes each with a blocking C call, one after
 * another. The allocator keeps what a thread frees for that thread's later allocations: sessions made on
 * changing threads of libuv's pool would each leave the memory of a released session to a thread that may
 * never make the next one, and RSS would grow from session to session. Made on one thread, the next session
 * reuses what the last one freed. The caller's thread is never blocked, and the model's bytes and weights are
 * read where they lie (by address; the caller holds them until the session exists).
 */
import { Worker } from 'node:worker_threads';
import type { Handle } from './library.js';
import { OrtError } from './status.js';

/** `prepacked`: an OrtPrepackedWeightsContainer shared with other sessions, or 0 for none. */
export type MakeRequest = { env: Handle; options: Handle; prepacked: Handle } & ({ path: string } | { address: number; length: number });
export type MakeAnswer = { id: number; session: Handle } | { id: number; message: string; code: string };

let maker: { worker: Worker; pending: Map<number, { resolve: (session: Handle) => void; reject: (error: Error) => void }>; next: number } | undefined;

function start(): NonNullable<typeof maker> {
  const worker = new Worker(new URL('./session-maker-worker.js', import.meta.url), { execArgv: [] });
  const state = { worker, pending: new Map<number, { resolve: (session: Handle) => void; reject: (error: Error) => void }>(), next: 0 };
  worker.on('message', (answer: MakeAnswer) => {
    const waiting = state.pending.get(answer.id);
    state.pending.delete(answer.id);
    if (state.pending.size === 0) worker.unref();
    if ('session' in answer) waiting?.resolve(answer.session);
    else waiting?.reject(new OrtError(answer.message, answer.code));
  });
  worker.on('error', (error) => fail(state, error));
  worker.on('exit', (code) => fail(state, new Error(`the thread that makes onnxruntime sessions stopped (exit code ${code})`)));
  worker.unref();
  return state;
}

function fail(state: NonNullable<typeof maker>, error: Error): void {
  if (maker === state) maker = undefined;
  for (const waiting of state.pending.values()) waiting.reject(error);
  state.pending.clear();
}

/** Makes a session on the session-making thread; resolves to its handle, or rejects with onnxruntime's error. */
export function makeSession(request: MakeRequest): Promise<Handle> {
  maker ??= start();
  const state = maker;
  return new Promise((resolve, reject) => {
    const id = state.next++;
    state.pending.set(id, { resolve, reject });
    state.worker.ref();
    state.worker.postMessage({ id, request });
  });
}
