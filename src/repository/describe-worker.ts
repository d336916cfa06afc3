/** Reads a model file's signature and Triton description (auto-complete.ts) off the main thread, answers, and exits. */
import { parentPort, workerData } from 'node:worker_threads';
import { messageOf } from '../errors.js';
import { elemTypeOf, shapeOf } from '../graph/types.js';
import { loadModel } from '../io/files.js';
import type { ValueInfoProto } from '../onnx.js';
import { runtimeInputs } from '../transform/batch-axes.js';
import { describeTritonModel } from '../triton/config.js';
import { tritonDataType } from '../triton/data-types.js';
import { readPlan } from '../transform/plan.js';
import { describeSignature, type DescribeAnswer, type ModelTensor } from './auto-complete.js';

const post = (answer: DescribeAnswer): void => parentPort!.postMessage(answer);

const tensor = (info: ValueInfoProto): ModelTensor => {
  const elemType = elemTypeOf(info);
  const shape = shapeOf(info);
  return { name: info.name, dataType: elemType === undefined ? undefined : tritonDataType(elemType), shape: shape?.map((d) => (typeof d === 'number' ? d : -1)) };
};

try {
  const model = await loadModel(workerData as string);
  const graph = model.graph;
  const signature = { inputs: graph === undefined ? [] : runtimeInputs(graph).map(tensor), outputs: (graph?.output ?? []).map(tensor) };
  let description: Extract<DescribeAnswer, { type: 'described' }>['description'];
  let planDevices: string[] | undefined;
  try {
    // A model rewritten by onnx-parallelize is described from its signature, as Triton's backend would describe it.
    planDevices = readPlan(model)?.devices;
    if (planDevices !== undefined) {
      description = describeSignature(signature);
    } else {
      const { config, report } = describeTritonModel(model, { devices: ['cpu'], name: 'model' });
      description = { inputs: config.input, outputs: config.output, batches: report.batching.enabled, reason: report.batching.reason };
    }
  } catch (error) {
    description = { problem: messageOf(error) };
  }
  post({ type: 'described', signature, description, ...(planDevices === undefined ? {} : { planDevices }) });
} catch (error) {
  post({ type: 'failed', name: error instanceof Error ? error.name : 'Error', message: messageOf(error) });
}
