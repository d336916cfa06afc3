/** The session-making thread (session-maker.ts): each request is one blocking CreateSession call, in turn. */
import { parentPort } from 'node:worker_threads';
import { ortApi } from './library.js';
import { Out, statusError } from './status.js';
import type { MakeAnswer, MakeRequest } from './session-maker.js';

const api = ortApi();
parentPort!.on('message', ({ id, request }: { id: number; request: MakeRequest }) => {
  const out = new Out();
  const status = 'path' in request ? api.CreateSession(request.env, request.path, request.options, out.cell) : api.CreateSessionFromAddress(request.env, request.address, request.length, request.options, out.cell);
  const error = statusError(api, status as number);
  const answer: MakeAnswer = error === undefined ? { id, session: out.value } : { id, message: error.message, code: error.code };
  parentPort!.postMessage(answer);
});
