/** Describes a model file for auto-complete (auto-complete.ts) off the main thread, answers, and exits. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../io/files.js';
import { describeTritonModel } from '../triton/config.js';
import type { DescribeAnswer } from './auto-complete.js';

const post = (answer: DescribeAnswer): void => parentPort!.postMessage(answer);

try {
  const { config, report } = describeTritonModel(await loadModel(workerData as string), { devices: ['cpu'], name: 'model' });
  post({ type: 'described', inputs: config.input, outputs: config.output, batches: report.batching.enabled, reason: report.batching.reason });
} catch (error) {
  post({ type: 'failed', name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) });
}
