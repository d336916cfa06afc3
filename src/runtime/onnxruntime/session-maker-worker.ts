/** The session-making thread (session-maker.ts): each request is one blocking CreateSession call, in turn. */
import { parentPort } from 'node:worker_threads';
import { ortApi } from './library.js';
import { Out, statusError } from './status.js';
import type { MakeAnswer, MakeRequest } from './session-maker.js';

const api = ortApi();
parentPort!.on('message', ({ id, request }: { id: number; request: MakeRequest }) => {
  const out = new Out();
  const { env, options, prepacked } = request;
  let status: unknown;
  if ('path' in request) status = prepacked ? api.CreateSessionWithPrepackedWeightsContainer(env, request.path, options, prepacked, out.cell) : api.CreateSession(env, request.path, options, out.cell);
  else status = prepacked ? api.CreateSessionFromAddressWithPrepackedWeightsContainer(env, request.address, request.length, options, prepacked, out.cell) : api.CreateSessionFromAddress(env, request.address, request.length, options, out.cell);
  const error = statusError(api, status as number);
  const answer: MakeAnswer = error === undefined ? { id, session: out.value } : { id, message: error.message, code: error.code };
  parentPort!.postMessage(answer);
});
