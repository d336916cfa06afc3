/** A device worker: owns one onnxruntime session and runs it off the main thread. */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { DeviceInit, DeviceSource, FromWorker, OutputPlace, RowCut, ToWorker, WireData } from './messages.js';
import { ownBuffer, transferables, weightBuffers } from './messages.js';
import { freeBuffers } from '../data/free-buffers.js';
import { withExternalData } from './external-files.js';
import { ortInputTensor } from '../../tensors/ort-tensor.js';
import type { TypedData } from '../../tensors/ort-types.js';
import { WorkerInputs } from '../data/worker-inputs.js';
import { WorkerOutputs, type OutputTarget } from '../data/worker-outputs.js';

const init = workerData as DeviceInit;
const port = parentPort!;
const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);
const answer = (message: Extract<FromWorker, { type: 'result' | 'error' }>, transfer: ArrayBuffer[] = []): void => init.answers.postMessage(message, transfer);
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

let session: ort.InferenceSession | undefined;
let delayMs = 0;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const inputs = new WorkerInputs();
const outputs = new WorkerOutputs();
/** Runs one after another: onnxruntime-node starts a run on the next turn of the event loop, and a run's inputs may sit in buffers the next run reuses. */
let runs: Promise<void> = Promise.resolve();
/** Runs received and not yet answered. */
let runsWaiting = 0;

async function create(source: DeviceSource, handBack: boolean): Promise<void> {
  const options = init.sessionOptions as ort.InferenceSession.SessionOptions;
  const weights = source.kind === 'bytes' ? source.externalData : [];
  const answer = (message: Extract<FromWorker, { type: 'ready' | 'failed' }>): void => {
    if (handBack) return post(message, weightBuffers(weights));
    // The weights are onnxruntime's own now: this worker keeps no copy.
    post({ ...message, weights: [] });
    freeBuffers(weightBuffers(weights));
  };
  try {
    session = source.kind === 'path' ? await ort.InferenceSession.create(source.path, options) : await ort.InferenceSession.create(source.model, withExternalData(options, weights));
    answer({ type: 'ready', weights });
  } catch (error) {
    answer({ type: 'failed', message: messageOf(error), weights });
  }
}

/** What to ask onnxruntime for: output names, or with `places`, the tensors to write some outputs into. */
function fetchesFor(places: Array<OutputPlace | undefined> | undefined, targets: Array<OutputTarget | undefined>): string[] | Record<string, ort.Tensor | null> {
  if (places === undefined) return init.fetchNames;
  const fetches: Record<string, ort.Tensor | null> = {};
  init.fetchNames.forEach((name, j) => {
    const place = places[j];
    if (place === undefined) return void (fetches[name] = null);
    const target = (targets[j] = outputs.target(j, place));
    fetches[name] = ortInputTensor(place.type, target.data as TypedData, target.dims);
  });
  return fetches;
}

async function run(id: number, dims: number[][], data: WireData[], cuts: Array<RowCut | undefined> | undefined, places: Array<OutputPlace | undefined> | undefined): Promise<void> {
  try {
    if (Atomics.load(init.released, 0) === 1) throw new Error('released before this run started');
    const began = performance.now();
    const feeds: Record<string, ort.Tensor> = {};
    for (let i = 0; i < data.length; i++) {
      const input = inputs.feed(i, dims[i]!, data[i]!, cuts?.[i]);
      feeds[init.feedNames[i]!] = ortInputTensor(init.feedTypes[i]!, input.data as TypedData, input.dims);
    }
    const inputMs = performance.now() - began;
    // After the inputs are taken: a test can then change shared data during the delay and see whether it was copied.
    if (delayMs > 0) Atomics.wait(sleeper, 0, 0, delayMs);
    const targets: Array<OutputTarget | undefined> = [];
    const fetches = fetchesFor(places, targets);
    const start = performance.now();
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await session!.run(feeds, fetches as ort.InferenceSession.FetchesType);
    } catch (error) {
      if (places === undefined) throw error;
      throw new Error(`${messageOf(error)} (outputs were to be written into the tensors of options.outputs: do their dims match what the model gives?)`);
    }
    const ended = performance.now();
    const ms = ended - start;
    const types: string[] = [];
    const outDims: number[][] = [];
    const outData: Array<WireData | null> = [];
    /** onnxruntime-node's own copies of outputs written into their places: freed once the answer is posted. */
    const copies: ArrayBuffer[] = [];
    init.fetchNames.forEach((name, j) => {
      const tensor = results[name]!;
      types.push(tensor.type);
      outDims.push(tensor.dims as number[]);
      const place = places?.[j];
      if (place === undefined) return void outData.push(ownBuffer(tensor.data as WireData));
      outputs.finish(place, targets[j]!);
      outData.push(null);
      const copy = (tensor.data as ArrayBufferView).buffer;
      if (copy instanceof ArrayBuffer && copy !== (targets[j]!.data as ArrayBufferView).buffer && !copies.includes(copy)) copies.push(copy);
    });
    const outBuffers = transferables(outData);
    const returned = transferables(data).filter((b) => !outBuffers.includes(b));
    answer({ type: 'result', id, types, dims: outDims, data: outData, ms, inputMs, outputMs: performance.now() - ended, returned }, [...outBuffers, ...returned]);
    // At once rather than at this worker's next collection, which large garbage would make frequent.
    freeBuffers(copies);
  } catch (error) {
    answer({ type: 'error', id, message: messageOf(error) });
  }
  // With another run waiting, it starts at once anyway.
  if (--runsWaiting === 0 && init.busyWaitMicros > 0) awaitNextMessage();
}

/**
 * Polls for the next message for up to busyWaitMicros before this thread goes back to its event loop to sleep:
 * a caller that sends its next run as soon as it has an answer then finds this thread awake, instead of paying
 * for waking it (tens of microseconds, more on a loaded machine). A message taken is handled as the event loop
 * would have handled it.
 */
function awaitNextMessage(): void {
  const until = performance.now() + init.busyWaitMicros / 1000;
  do {
    const received = receiveMessageOnPort(port);
    if (received !== undefined) return handle(received.message as ToWorker);
  } while (performance.now() < until);
}

function handle(message: ToWorker): void {
  switch (message.type) {
    case 'create': return void create(message.source, message.handBack);
    case 'run': {
      const { id, dims, data, cuts, places } = message;
      runsWaiting++;
      runs = runs.then(() => run(id, dims, data, cuts, places));
      return;
    }
    case 'delay': delayMs = message.ms; return;
    case 'exit': return process.exit(message.code);
    case 'release':
      return void (session?.release() ?? Promise.resolve()).finally(() => {
        post({ type: 'released' });
        port.close();
      });
  }
}

port.on('message', handle);
