/**
 * The "worker thread making synchronous C calls" contender of the C API benchmark: one session made through
 * onnxruntime's C API, run by a blocking OrtApi Run call on this worker's thread; the input arrives by transfer,
 * the output is read into a fresh buffer and transferred back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { OrtSession } from '../src/runtime/onnxruntime/session.js';
import { createSessionOptions, releaseSessionOptions } from '../src/runtime/onnxruntime/session-options.js';
import { ortApi } from '../src/runtime/onnxruntime/library.js';
import { check } from '../src/runtime/onnxruntime/status.js';
import { readTensor, releaseValue, tensorShape, tensorValue } from '../src/runtime/onnxruntime/values.js';

const { file, width } = workerData as { file: string; width: number };
const options = createSessionOptions({ intraOpNumThreads: 1, interOpNumThreads: 1 });
const session = await OrtSession.create({ path: file }, options);
releaseSessionOptions(options);
const api = ortApi();
parentPort!.postMessage('ready');
parentPort!.on('message', (buffer: ArrayBuffer) => {
  const x = tensorValue('float32', [buffer.byteLength / 4 / width, width], new Float32Array(buffer));
  const outputs = new BigUint64Array(1);
  check(api, api.Run(session.handle, 0, ['x'], BigUint64Array.of(BigInt(x.handle)), 1, ['y'], 1, outputs));
  const y = Number(outputs[0]);
  const data = readTensor(y, tensorShape(y)) as Float32Array;
  releaseValue(y);
  releaseValue(x.handle);
  parentPort!.postMessage(data.buffer, [data.buffer as ArrayBuffer]);
});
