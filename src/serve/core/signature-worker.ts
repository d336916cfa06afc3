/** Reads a model file's signature (signature.ts) off the main thread, answers, and exits. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../../io/files.js';
import { signatureOf, type SignatureAnswer } from './signature.js';

const post = (answer: SignatureAnswer): void => parentPort!.postMessage(answer);

try {
  post({ type: 'signature', signature: signatureOf(await loadModel(workerData as string)) });
} catch (error) {
  post({ type: 'failed', name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) });
}
