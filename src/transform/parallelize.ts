/**
 * The data-parallel rewrite, a function from model to model: split each batched input, run N replicas of the
 * graph that share the weights, join the outputs. The input model is not modified; the output shares its
 * tensors (weights are stored once, never copied).
 */
import { clone, create } from '@bufbuild/protobuf';
import { withFields } from '../graph/copy.js';
import { TensorShapeProto_DimensionSchema, ValueInfoProtoSchema, type ModelProto, type TensorShapeProto_Dimension, type ValueInfoProto } from '../onnx.js';
import { InputError } from '../errors.js';
import { elemTypeOf, MAX_DIM } from '../graph/types.js';
import { mainGraph } from '../graph/model.js';
import { checkGraphForRewrite } from './checks.js';
import { decideAxes, runtimeInputs } from './batch-axes.js';
import { NodeEmitter } from './emitter.js';
import { planHoisting } from './hoist.js';
import { emitJoin } from './join.js';
import { NameAllocator } from './names.js';
import { checkOptions, type CombineMode, type ParallelizeOptions } from './options.js';
import { checkedDefaultOpset, opChangingBetween, withDefaultOpset } from './opset.js';
import { cloneNodes, renameValueInfo, Scope, type Replica } from './replicate.js';
import { emitSplits, MIN_DYNAMIC_SPLIT_OPSET, type SplitInput } from './split.js';
import { integerWeights } from './split-sizes.js';
import { readPlan, withPlan, type ExecutionPlan } from './plan.js';
import { DeviceTagger, deviceConfiguration, hostTagger, irVersionNeeded, tagLevelFor } from './tags.js';

export interface ParallelizeReport {
  devices: string[];
  weights: number[];
  irVersion: number;
  opset: { from: number | undefined; to: number };
  /** `sizes`: rows per replica for a fixed batch; for a symbolic batch they follow from the batch (splitSizes). */
  inputs: Array<{ name: string; axis: number | null; batch: number | string | null; split: string; sizes: number[] | null; reason: string }>;
  outputs: Array<{ name: string; axis: number | null; batch: number | string | null; combine: CombineMode | null; reason: string }>;
  notes: string[];
}

export interface ParallelizeResult {
  model: ModelProto;
  report: ParallelizeReport;
  plan: ExecutionPlan;
}

/** A copy of a value info with the dim at `axis` multiplied by `factor` (fixed dims only, checked to stay within MAX_DIM). */
function scaleDim(info: ValueInfoProto, axis: number | null, factor: number): ValueInfoProto {
  if (axis === null) return info;
  const dim = info.type?.value.case === 'tensorType' ? info.type.value.value.shape?.dim[axis] : undefined;
  if (dim?.value.case !== 'dimValue') return info;
  const copy = clone(ValueInfoProtoSchema, info);
  const target = (copy.type!.value.value as { shape: { dim: TensorShapeProto_Dimension[] } }).shape.dim[axis]!;
  target.value = { case: 'dimValue', value: dim.value.value * BigInt(factor) };
  return copy;
}

/** The output of --combine NAME=stack: a new first dim, N for a fixed batch, else min(batch, N) (named `replicas`). */
function prependDim(info: ValueInfoProto, size: number | string): ValueInfoProto {
  const copy = clone(ValueInfoProtoSchema, info);
  if (copy.type?.value.case === 'tensorType' && copy.type.value.value.shape !== undefined) {
    const value = typeof size === 'number' ? ({ case: 'dimValue', value: BigInt(size) } as const) : ({ case: 'dimParam', value: size } as const);
    copy.type.value.value.shape.dim.unshift(create(TensorShapeProto_DimensionSchema, { value }));
  }
  return copy;
}

export function parallelize(model: ModelProto, options: ParallelizeOptions): ParallelizeResult {
  checkOptions(options);
  const graph = mainGraph(model);
  const previous = readPlan(model);
  if (previous !== undefined) {
    throw new InputError(`the model was rewritten by onnx-parallelize already (${previous.devices.length} replicas on ${previous.devices.join(', ')}); rewrite the original model instead`);
  }
  checkGraphForRewrite(graph);
  const n = options.devices.length;
  const weights = integerWeights(options.weights ?? options.devices.map(() => 1));
  const notes: string[] = [];

  const axes = decideAxes(graph, runtimeInputs(graph), options.axes ?? {}, options.combine ?? {});

  const unjoinable = axes.outputs.filter((o) => o.axis === null && o.combine === null);
  if (unjoinable.length > 0) {
    const o = unjoinable[0]!;
    throw new InputError(`output '${o.info.name}' has no batch axis (${o.reason}) and cannot be concatenated; say how to combine it (--combine ${o.info.name}=first|sum|mean|max|stack) or give its axis (--axis ${o.info.name}=K)`);
  }
  const batched = axes.inputs.filter((i) => i.axis !== null);
  if (batched.length === 0) throw new InputError('no input has a batch axis, so there is nothing to split; give one with --axis NAME=K');
  for (const input of batched) {
    if (typeof input.batchDim === 'number' && options.weights !== undefined && new Set(weights).size > 1) {
      throw new InputError(`input '${input.info.name}' has a fixed batch of ${input.batchDim}, which every replica gets whole; --weights needs a symbolic batch (re-export with a dynamic batch dim)`);
    }
    if (input.batchDim === 0) throw new InputError(`input '${input.info.name}' has a fixed batch of 0 on axis ${input.axis}; nothing can be split`);
  }
  for (const [kind, values] of [['input', axes.inputs], ['output', axes.outputs]] as const) {
    for (const { info, axis, batchDim } of values) {
      if (typeof batchDim === 'number' && n * batchDim > MAX_DIM) {
        throw new InputError(
          `${kind} '${info.name}' has a fixed batch of ${batchDim} on axis ${axis}; ${n} replicas of it make a batch of ${BigInt(n) * BigInt(batchDim)}, ` +
            `larger than any tensor can be (at most ${MAX_DIM}); export the model with a symbolic batch dim`,
        );
      }
    }
  }

  // Opset: below 7 onnxruntime has no integer arithmetic kernels to size a symbolic batch with.
  const fromOpset = checkedDefaultOpset(model);
  let opset = fromOpset ?? 13;
  const dynamic = batched.some((i) => typeof i.batchDim !== 'number');
  if (dynamic && opset < MIN_DYNAMIC_SPLIT_OPSET) {
    const change = opChangingBetween(model, opset, MIN_DYNAMIC_SPLIT_OPSET);
    if (change !== undefined) {
      throw new InputError(
        `the model is at opset ${opset}, too old to split a symbolic batch in the graph; raising it to ${MIN_DYNAMIC_SPLIT_OPSET} would change ${change.op}` +
          `${Number.isNaN(change.version) ? ' (unknown operator)' : ` (new version at opset ${change.version})`}; export the model at opset >= ${MIN_DYNAMIC_SPLIT_OPSET} or with a fixed batch`,
      );
    }
    notes.push(`opset raised from ${opset} to ${MIN_DYNAMIC_SPLIT_OPSET} to split a symbolic batch (no operator of the model changes between them)`);
    opset = MIN_DYNAMIC_SPLIT_OPSET;
  }

  const level = tagLevelFor(options.irVersion ?? 11);
  let irVersion = Math.max(Number(model.irVersion), irVersionNeeded(level));
  if (opset !== fromOpset && irVersion < 3) irVersion = 3;

  const names = new NameAllocator(model);
  const stem = names.freshReplicaStem('replica');
  const emitter = new NodeEmitter(names, opset, 'parallel');
  const hoisting = planHoisting(graph, names, irVersion >= 4);

  const splitInputs: SplitInput[] = batched.map((i) => ({ name: i.info.name, axis: i.axis!, fixedBatch: typeof i.batchDim === 'number' ? i.batchDim : undefined }));
  const { parts, dynamic: sizes } = emitSplits(emitter, splitInputs, weights);
  const hostPrelude = emitter.nodes.splice(0);

  const replicaNodes = options.devices.map((device, index) => {
    const replica: Replica = { prefix: `${stem}${index}/`, hoisting, tagger: new DeviceTagger(level, device, String(index), index) };
    const scope = new Scope();
    for (const [name, perReplica] of parts) scope.define(name, perReplica[index]!);
    const nodes = cloneNodes(graph.node, scope, replica);
    const valueInfo = graph.valueInfo.filter((v) => scope.resolve(v.name) !== v.name).map((v) => renameValueInfo(v, scope.resolve(v.name), replica.prefix));
    const outputs = graph.output.map((o) => scope.resolve(o.name));
    return { nodes, valueInfo, outputs, scope };
  });

  // An output that is a graph input or a weight (not computed by any node) stays as it is.
  const notComputed = new Set([...graph.input.map((i) => i.name), ...graph.initializer.map((t) => t.name), ...hoisting.initializers.map((t) => t.name), ...hoisting.constantNodes.flatMap((n) => n.output)]);
  for (const [k, output] of axes.outputs.entries()) {
    if (notComputed.has(output.info.name)) continue;
    emitJoin(emitter, { name: output.info.name, axis: output.axis, combine: output.combine, elemType: elemTypeOf(output.info) }, replicaNodes.map((r) => r.outputs[k]!), sizes);
  }
  const hostNodes = [...hoisting.constantNodes, ...hostPrelude, ...emitter.nodes];
  const host = hostTagger(level);
  for (const node of hostNodes) host.tagHostNode(node);

  const fixedFactor = (batchDim: number | string | null): number => (typeof batchDim === 'number' ? n : 1);
  const sharedValueInfo = graph.valueInfo.filter((v) => replicaNodes[0]!.scope.resolve(v.name) === v.name);
  const newGraph = withFields(graph, {
    node: [...hoisting.constantNodes, ...hostPrelude, ...replicaNodes.flatMap((r) => r.nodes), ...emitter.nodes],
    input: graph.input.map((info) => {
      const decided = axes.inputs.find((i) => i.info === info);
      return decided === undefined ? info : scaleDim(info, decided.axis, fixedFactor(decided.batchDim));
    }),
    output: axes.outputs.map((o) => (o.combine === 'stack' ? prependDim(o.info, sizes === undefined ? n : 'replicas') : scaleDim(o.info, o.axis, fixedFactor(o.batchDim)))),
    initializer: [...graph.initializer, ...hoisting.initializers, ...emitter.initializers],
    sparseInitializer: [...graph.sparseInitializer, ...hoisting.sparseInitializers],
    valueInfo: [...sharedValueInfo, ...replicaNodes.flatMap((r) => r.valueInfo)],
  });
  const plan: ExecutionPlan = {
    version: 1,
    devices: [...options.devices],
    weights,
    inputs: axes.inputs.map((i) => ({ name: i.info.name, axis: i.axis, fixedBatch: typeof i.batchDim === 'number' ? i.batchDim : null, parts: parts.get(i.info.name) ?? [] })),
    outputs: axes.outputs.map((o, k) => ({ name: o.info.name, axis: o.axis, combine: o.combine, parts: replicaNodes.map((r) => r.outputs[k]!) })),
  };
  const result = withFields(model, {
    metadataProps: withPlan(model, plan),
    irVersion: BigInt(irVersion),
    graph: newGraph,
    opsetImport: opset === fromOpset ? model.opsetImport : withDefaultOpset(model.opsetImport, opset),
    configuration: level === 'ir11' ? [deviceConfiguration(options.devices)] : [],
  });

  const splitLabel = (batchDim: number | string | null): string => (typeof batchDim === 'number' ? `${batchDim} per replica` : options.weights === undefined ? 'balanced' : `weights ${weights.join(':')}`);
  return {
    model: result,
    plan,
    report: {
      devices: [...options.devices],
      weights,
      irVersion,
      opset: { from: fromOpset, to: opset },
      inputs: axes.inputs.map((i) => ({
        name: i.info.name,
        axis: i.axis,
        batch: i.batchDim,
        split: i.axis === null ? 'shared' : splitLabel(i.batchDim),
        sizes: i.axis !== null && typeof i.batchDim === 'number' ? options.devices.map(() => i.batchDim as number) : null,
        reason: i.reason,
      })),
      outputs: axes.outputs.map((o) => ({ name: o.info.name, axis: o.axis, batch: o.batchDim, combine: o.combine, reason: o.reason })),
      notes,
    },
  };
}

