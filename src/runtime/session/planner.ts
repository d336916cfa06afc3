/** Runs the planning worker (planner-worker.ts) and turns its answer back into a device plan. */
import { Worker } from 'node:worker_threads';
import { fromBinary } from '@bufbuild/protobuf';
import { ValueInfoProtoSchema, type ValueInfoProto } from '../../onnx.js';
import { ArgumentError, DeviceError, InputError } from '../../errors.js';
import type { ExecutionPlan } from '../../transform/plan.js';
import type { DevicePlan, PlanOptions } from './device-plan.js';
import type { DeviceSource } from './device-source.js';
import type { WeightsFile } from '../shared-weights/weights-file.js';

export interface PlannerInit {
  /** A model file's path, or the model's bytes (on a buffer of their own, transferred). */
  model: string | Uint8Array;
  options: PlanOptions;
}

export type PlannerResult =
  | { type: 'planned'; plan: ExecutionPlan; devices: string[]; defaulted: boolean; inputs: Uint8Array[]; outputs: Uint8Array[]; feedNames: string[]; feedTypes: string[]; fetchNames: string[]; source: DeviceSource; weightsFile?: WeightsFile }
  | { type: 'failed'; name: string; message: string };

/** `weightsFile`: the weights the CPU devices share (shared-weights/), a temporary file the caller deletes. */
export type PlannedDevices = Omit<DevicePlan, 'model' | 'inputs' | 'outputs'> & { inputs: ValueInfoProto[]; outputs: ValueInfoProto[]; source: DeviceSource; weightsFile?: WeightsFile };

/** The error the worker reported, as the class it was thrown as. */
function rethrown(name: string, message: string): Error {
  if (name === 'InputError') return new InputError(message);
  if (name === 'ArgumentError') return new ArgumentError(message);
  if (name === 'TypeError') return new TypeError(message);
  if (name === 'RangeError') return new RangeError(message);
  if (name === 'DeviceError') return new DeviceError(message);
  return new Error(message);
}

/** Plans the devices of `model` in a worker of its own, which exits once it has answered. */
export function planInWorker(model: string | Uint8Array, options: PlanOptions): Promise<PlannedDevices> {
  // The caller's bytes are never transferred (that would detach them): the worker gets a copy of its own.
  const bytes = typeof model === 'string' ? undefined : new Uint8Array(model); // a copy on a buffer of its own (a Node Buffer's slice() is a view)
  const init: PlannerInit = { model: bytes ?? (model as string), options };
  const worker = new Worker(new URL('./planner-worker.js', import.meta.url), { workerData: init, transferList: bytes === undefined ? [] : [bytes.buffer as ArrayBuffer], execArgv: [] });
  // Answered only once the worker has exited: its memory is returned before any device starts creating a session.
  return new Promise((resolve, reject) => {
    let answer: PlannerResult | undefined;
    worker.once('message', (result: PlannerResult) => (answer = result));
    worker.once('error', (error) => reject(new Error(`ParallelSession: planning the model failed: ${error.message}`)));
    worker.once('exit', (code) => {
      if (answer === undefined) return reject(new Error(`ParallelSession: the planning worker exited (code ${code})`));
      if (answer.type === 'failed') return reject(rethrown(answer.name, answer.message));
      const { type: _type, inputs, outputs, ...rest } = answer;
      const decoded = (infos: Uint8Array[]): ValueInfoProto[] => infos.map((b) => fromBinary(ValueInfoProtoSchema, b));
      resolve({ ...rest, inputs: decoded(inputs), outputs: decoded(outputs) });
    });
  });
}
