/**
 * Copies of nodes made in bulk (a rewrite makes one per node and replica: 400,000 for a 100,000-node graph
 * written for 4 devices), and nodes whose device_configurations follow from their outputs: one
 * NodeDeviceConfigurationProto whose sharding specs place each named output on the same devices. The encoder
 * writes that list straight from the outputs without building it; a reader gets it built on first read.
 */
import { create } from '@bufbuild/protobuf';
import { NodeProtoSchema, type AttributeProto, type NodeDeviceConfigurationProto, type NodeProto, type ShardingSpecProto, type StringStringEntryProto } from '../onnx.js';
import { withFields } from './copy.js';

export interface Placement {
  /** The configuration, without sharding specs. */
  configuration: NodeDeviceConfigurationProto;
  /** The sharding spec of every output, without tensor_name. */
  sharding: ShardingSpecProto;
}

/** The fields a copy replaces; the others (op type, domain, overload, doc string, unknown fields) are kept. */
export interface NodeChanges {
  input: string[];
  output: string[];
  /** Set only if given. */
  name: string | undefined;
  attribute: AttributeProto[];
  metadataProps: StringStringEntryProto[];
}

const PLACEMENT = Symbol('placement');

/** The device_configurations that `placement` gives a node with these outputs. */
export function placementConfigurations(placement: Placement, outputs: string[]): NodeDeviceConfigurationProto[] {
  const shardingSpec: ShardingSpecProto[] = [];
  for (const tensorName of outputs) if (tensorName !== '') shardingSpec.push(withFields(placement.sharding, { tensorName }));
  return [withFields(placement.configuration, { shardingSpec })];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A NodeProto made by a constructor rather than by `create`: every field is set in one place, so V8 gives all
 * copies one compact shape (no separate property store), and the prototype is the one protobuf-es gives decoded
 * nodes (it holds the proto2 defaults), so which fields count as set is kept exactly.
 */
class NodeCopy {
  constructor(template: NodeProto, changes: NodeChanges, placed: boolean) {
    const self = this as unknown as Mutable<NodeProto>;
    self.$typeName = template.$typeName;
    self.input = changes.input;
    self.output = changes.output;
    if (changes.name !== undefined) self.name = changes.name;
    if (Object.hasOwn(template, 'opType')) self.opType = template.opType;
    self.attribute = changes.attribute;
    if (Object.hasOwn(template, 'docString')) self.docString = template.docString;
    if (Object.hasOwn(template, 'domain')) self.domain = template.domain;
    if (Object.hasOwn(template, 'overload')) self.overload = template.overload;
    self.metadataProps = changes.metadataProps;
    if (!placed) self.deviceConfigurations = [];
    if (template.$unknown !== undefined) self.$unknown = template.$unknown;
  }
}
Object.setPrototypeOf(NodeCopy.prototype, Object.getPrototypeOf(create(NodeProtoSchema)) as object);

/**
 * A node copy whose device_configurations follow from its placement and outputs: the encoder writes them from
 * the outputs; the first read (or an assignment) makes them an own list of the node.
 */
class PlacedNode extends NodeCopy {
  declare readonly [PLACEMENT]: Placement;
  constructor(template: NodeProto, changes: NodeChanges, placement: Placement) {
    super(template, changes, true);
    this[PLACEMENT] = placement;
  }
}
/** Gives `node` its own device_configurations: from then on they are plain data, changed like any field. */
function setOwnConfigurations(node: NodeProto, value: NodeDeviceConfigurationProto[]): void {
  Object.defineProperty(node, 'deviceConfigurations', { value, writable: true, enumerable: true, configurable: true });
}
Object.defineProperty(PlacedNode.prototype, 'deviceConfigurations', {
  configurable: true,
  // Derived on the first read and kept, so that changes to the list (a push, a pipeline stage) are not lost.
  get(this: PlacedNode & NodeProto) {
    const value = placementConfigurations(this[PLACEMENT], this.output);
    setOwnConfigurations(this, value);
    return value;
  },
  set(this: NodeProto, value: NodeDeviceConfigurationProto[]) {
    setOwnConfigurations(this, value);
  },
});

/** A copy of `template` with `changes`; placed by `placement` if given, else without device_configurations. */
export function copyNode(template: NodeProto, changes: NodeChanges, placement: Placement | undefined): NodeProto {
  return (placement === undefined ? new NodeCopy(template, changes, false) : new PlacedNode(template, changes, placement)) as unknown as NodeProto;
}

/** The placement `node` derives its device_configurations from, if it does. */
export function placementOf(node: NodeProto): Placement | undefined {
  return node instanceof PlacedNode && !Object.hasOwn(node, 'deviceConfigurations') ? node[PLACEMENT] : undefined;
}
