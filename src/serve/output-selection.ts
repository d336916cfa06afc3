/**
 * The outputs a request asks for, whatever the protocol that carried it: each an output of the model, asked for
 * once, without the extensions this server does not have (shared memory, classification).
 */
import { badRequest } from './errors.js';
import type { TensorSignature } from './signature.js';

/** What a request says of one output it asks for. */
export interface OutputAsk {
  name: string;
  /** Whether it names a shared-memory region to write to. */
  sharedMemory: boolean;
  /** Whether it asks for the classification extension. */
  classification: boolean;
}

/** Checks one output asked for; `seen` holds the names asked for before it, and gets this one. */
export function checkOutputAsk(ask: OutputAsk, model: readonly TensorSignature[], seen: Set<string>): void {
  const { name } = ask;
  if (!model.some((o) => o.name === name)) throw badRequest(`output '${name}': not an output of the model (its outputs: ${model.map((o) => o.name).join(', ')})`);
  if (seen.has(name)) throw badRequest(`output '${name}': asked for twice`);
  seen.add(name);
  if (ask.sharedMemory) throw badRequest(`output '${name}': shared memory is not supported; ask for the data in the answer instead`);
  if (ask.classification) throw badRequest(`output '${name}': the classification extension is not supported`);
}
