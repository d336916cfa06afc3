/**
 * The planning worker of ParallelSession.create: loads the model, plans the devices and prepares what their
 * sessions are created from, then exits. It runs off the main thread so that the model's bytes never live on the
 * main thread's heap: when this worker ends, everything it read is freed with it, with no garbage collection to
 * wait for. Weights handed to the devices are transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { toBinary } from '@bufbuild/protobuf';
import { ValueInfoProtoSchema } from '../../onnx.js';
import { decodeModel } from '../../io/codec.js';
import { loadModel } from '../../io/files.js';
import { planDevices } from './device-plan.js';
import { ArgumentError } from '../../errors.js';
import { sessionSource } from './session-source.js';
import type { DeviceSource } from './device-source.js';
import type { PlannerInit, PlannerResult } from './planner.js';
import { modelReferringTo, sharesWeights, writeWeightsFile } from '../shared-weights/weights-file.js';

const init = workerData as PlannerInit;
const post = (message: PlannerResult, transfer: ArrayBuffer[] = []): void => parentPort!.postMessage(message, transfer);

try {
  const fromFile = typeof init.model === 'string';
  const model = typeof init.model === 'string' ? await loadModel(init.model) : decodeModel(init.model, 'model');
  const planned = planDevices(model, init.options, fromFile);
  let source: DeviceSource;
  // Two or more CPU devices share one copy of the weights: written once to a file, which the model refers to.
  const weightsFile = sharesWeights(planned.devices) ? await writeWeightsFile(planned.model ?? model) : undefined;
  if (weightsFile !== undefined) source = { kind: 'bytes', model: modelReferringTo(planned.model ?? model, weightsFile), externalData: [] };
  else if (planned.model === undefined) source = { kind: 'path', path: init.model as string };
  else {
    const { model: bytes, externalData } = await sessionSource(planned.model);
    // Transferred below: every weight file gets a buffer of its own (a view of a larger buffer is copied once).
    const own = externalData.map((f) => (f.data.byteOffset === 0 && f.data.byteLength === f.data.buffer.byteLength && f.data.buffer instanceof ArrayBuffer ? f : { path: f.path, data: f.data.slice() }));
    source = { kind: 'bytes', model: bytes, externalData: own };
  }
  const { plan, devices, defaulted, feedNames, feedTypes, fetchNames } = planned;
  const inputs = planned.inputs.map((info) => toBinary(ValueInfoProtoSchema, info));
  const outputs = planned.outputs.map((info) => toBinary(ValueInfoProtoSchema, info));
  post({ type: 'planned', plan, devices, defaulted, inputs, outputs, feedNames, feedTypes, fetchNames, source, ...(weightsFile === undefined ? {} : { weightsFile }) }, source.kind === 'bytes' ? [...new Set(source.externalData.map((f) => f.data.buffer as ArrayBuffer))] : []);
} catch (error) {
  // An ArgumentError keeps its class across the thread boundary (its name is TypeError's, as for any TypeError).
  const name = error instanceof ArgumentError ? 'ArgumentError' : error instanceof Error ? error.name : 'Error';
  post({ type: 'failed', name, message: error instanceof Error ? error.message : String(error) });
}
