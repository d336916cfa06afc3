/**
 * What each device runs for a model given to ParallelSession: the execution plan (how the host splits and joins),
 * the names each device's session is fed and fetched, and the model the devices run. Every device runs the same
 * model: the original, for a plain model (from its own file when it was given as a path), or replica 0 of a model
 * rewritten by onnx-parallelize (its replicas differ only in names).
 */
import { TensorProto_DataType, type ModelProto, type ValueInfoProto } from '../../onnx.js';
import { elemTypeOf } from '../../graph/types.js';
import { parallelize } from '../../transform/parallelize.js';
import { readPlan, type ExecutionPlan } from '../../transform/plan.js';
import type { CombineMode } from '../../transform/options.js';
import { replicaModel } from './extract.js';
import { ortTypeFor, sessionTypeFor } from '../../tensors/ort-types.js';
import { ArgumentError } from '../../errors.js';

export interface PlanOptions {
  devices?: string[];
  /** The devices of a plain model given no `devices` (every GPU found, else the CPU). */
  defaultDevices?: string[];
  weights?: number[];
  axes?: Record<string, number | null>;
  combine?: Record<string, CombineMode>;
}

export interface DevicePlan {
  plan: ExecutionPlan;
  /** The device of each replica: as given, else from the rewritten model's tags, else the default devices. */
  devices: string[];
  /** Whether `devices` are the default devices (a plain model given no devices). */
  defaulted: boolean;
  /** The model's inputs as callers feed them, and its outputs as callers get them (the plan's, in its order). */
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  /** For each plan input, the name the device model reads it under, and its element type in the session ('bfloat16' for bfloat16). */
  feedNames: string[];
  feedTypes: string[];
  /** For each plan output, the name the device model writes it under. */
  fetchNames: string[];
  /** The model every device runs; undefined when that is the model file given, unchanged. */
  model: ModelProto | undefined;
}

/** The device each replica's nodes are tagged with (metadata `device`), else the plan's. */
function taggedDevices(model: ModelProto, plan: ExecutionPlan): string[] {
  return plan.devices.map((fallback, replica) => {
    const part = plan.outputs[0]?.parts[replica];
    const node = model.graph!.node.find((n) => n.output.includes(part ?? ''));
    return node?.metadataProps.find((p) => p.key === 'device')?.value ?? fallback;
  });
}

function typeOf(info: ValueInfoProto): string {
  return sessionTypeFor(elemTypeOf(info), `model: input '${info.name}'`);
}

/**
 * The device plan of `model`. `fromFile` says the model was given as a file path, so devices can open that file
 * themselves when they run the model unchanged.
 */
export function planDevices(model: ModelProto, options: PlanOptions, fromFile: boolean): DevicePlan {
  const stored = readPlan(model);
  let plan: ExecutionPlan;
  let deviceModel: ModelProto | undefined;
  let devices: string[];
  if (stored === undefined) {
    const given = options.devices ?? options.defaultDevices;
    if (given === undefined) throw new ArgumentError('options.devices (--devices): required for a model that onnx-parallelize has not rewritten, for example cuda:0,cuda:1');
    plan = parallelize(model, {
      devices: given,
      ...(options.weights === undefined ? {} : { weights: options.weights }),
      ...(options.axes === undefined ? {} : { axes: options.axes }),
      ...(options.combine === undefined ? {} : { combine: options.combine }),
    }).plan;
    devices = given;
    deviceModel = fromFile ? undefined : model;
  } else {
    if (options.axes !== undefined || options.combine !== undefined) throw new ArgumentError('options.axes and options.combine apply to a plain model; this model was rewritten already');
    plan = stored;
    devices = options.devices ?? taggedDevices(model, plan);
    if (devices.length !== plan.devices.length) throw new ArgumentError(`options.devices: the model has ${plan.devices.length} replicas, but ${devices.length} devices were given`);
    deviceModel = replicaModel(model, plan, 0);
  }
  const rewritten = stored !== undefined;
  // An output no onnxruntime-node tensor holds (float8, ...) would fail every run: refused here, by name.
  for (const output of model.graph!.output) {
    const elemType = elemTypeOf(output);
    const planned = plan.outputs.find((o) => o.name === output.name);
    if (elemType === undefined || planned === undefined) continue;
    ortTypeFor(elemType, `model: output '${output.name}'`);
    // The host joins such an output from the devices' values, and bfloat16 ones it holds as bits only.
    if (elemType === TensorProto_DataType.BFLOAT16 && planned.combine !== null && planned.combine !== 'first' && planned.combine !== 'stack') {
      throw new ArgumentError(`model: output '${output.name}' is bfloat16 without a batch axis, which cannot be joined by ${planned.combine} across devices; use combine first or stack, or cast it to float32 inside the model`);
    }
  }
  const inputs = model.graph!.input.filter((i) => plan.inputs.some((p) => p.name === i.name));
  const infoOf = new Map(inputs.map((i) => [i.name, i] as const));
  const outputs = plan.outputs.flatMap((o) => model.graph!.output.filter((info) => info.name === o.name).slice(0, 1));
  return {
    plan,
    devices,
    defaulted: !rewritten && options.devices === undefined,
    inputs,
    outputs,
    feedNames: plan.inputs.map((i) => (rewritten && i.axis !== null ? i.parts[0]! : i.name)),
    feedTypes: plan.inputs.map((i) => typeOf(infoOf.get(i.name)!)),
    fetchNames: plan.outputs.map((o) => (rewritten ? o.parts[0]! : o.name)),
    model: deviceModel,
  };
}
