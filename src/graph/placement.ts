/**
 * Nodes whose device_configurations follow from their outputs: one NodeDeviceConfigurationProto whose sharding
 * specs place each named output on the same devices. A rewrite tags hundreds of thousands of replica nodes this
 * way; such nodes derive the list when it is read, and the encoder writes it straight from the outputs without
 * building it.
 */
import { create } from '@bufbuild/protobuf';
import { NodeProtoSchema, type NodeDeviceConfigurationProto, type NodeProto, type ShardingSpecProto } from '../onnx.js';
import { withFields } from './copy.js';

export interface Placement {
  /** The configuration, without sharding specs. */
  configuration: NodeDeviceConfigurationProto;
  /** The sharding spec of every output, without tensor_name. */
  sharding: ShardingSpecProto;
}

const PLACEMENT = Symbol('placement');

/** The prototype protobuf-es gives every NodeProto (it holds the proto2 defaults). */
const NODE_PROTOTYPE = Object.getPrototypeOf(create(NodeProtoSchema)) as object;

/** The device_configurations that `placement` gives a node with these outputs. */
export function placementConfigurations(placement: Placement, outputs: string[]): NodeDeviceConfigurationProto[] {
  const shardingSpec: ShardingSpecProto[] = [];
  for (const tensorName of outputs) if (tensorName !== '') shardingSpec.push(withFields(placement.sharding, { tensorName }));
  return [withFields(placement.configuration, { shardingSpec })];
}

/** The prototype of placed nodes: NodeProto's, plus device_configurations derived until one is assigned. */
const PLACED_NODE_PROTOTYPE = Object.create(NODE_PROTOTYPE) as object;
Object.defineProperty(PLACED_NODE_PROTOTYPE, 'deviceConfigurations', {
  configurable: true,
  get(this: NodeProto & { [PLACEMENT]: Placement }) {
    return placementConfigurations(this[PLACEMENT], this.output);
  },
  // An assignment replaces the derived list with the one given, on that node only.
  set(this: NodeProto, value: NodeDeviceConfigurationProto[]) {
    Object.defineProperty(this, 'deviceConfigurations', { value, writable: true, enumerable: true, configurable: true });
  },
});

type MutableNode = { -readonly [K in keyof NodeProto]: NodeProto[K] };

/**
 * A NodeProto with no fields set yet, to be filled in by the caller: placed by `placement` if given (all such
 * nodes share one prototype and one shape, which keeps the encoder's property reads fast), plain otherwise.
 */
export function emptyNode(placement: Placement | undefined): MutableNode {
  if (placement === undefined) return Object.create(NODE_PROTOTYPE) as MutableNode;
  const node = Object.create(PLACED_NODE_PROTOTYPE) as MutableNode & { [PLACEMENT]: Placement };
  node[PLACEMENT] = placement;
  return node;
}

/** The placement `node` derives its device_configurations from, if it does. */
export function placementOf(node: NodeProto): Placement | undefined {
  return Object.hasOwn(node, 'deviceConfigurations') ? undefined : (node as NodeProto & { [PLACEMENT]?: Placement })[PLACEMENT];
}
