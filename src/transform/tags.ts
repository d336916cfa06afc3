/**
 * Device tags. IR 11 multi-device annotations: one DeviceConfigurationProto on the model, and on every replica
 * node a NodeDeviceConfigurationProto placing its outputs on its device. Every node also gets metadata_props
 * `device` and `replica` for readers that ignore IR 11. Split and join nodes are tagged as host (`cpu`).
 */
import { create } from '@bufbuild/protobuf';
import {
  DeviceConfigurationProtoSchema,
  NodeDeviceConfigurationProtoSchema,
  ShardingSpecProtoSchema,
  type DeviceConfigurationProto,
  type NodeDeviceConfigurationProto,
  type NodeProto,
  type ShardingSpecProto,
  type StringStringEntryProto,
} from '../onnx.js';
import { withFields } from '../graph/copy.js';
import { makeEntry } from '../graph/build.js';
import { subgraphsOf } from '../graph/walk.js';

/** 'ir11': device_configurations and metadata_props; 'metadata': metadata_props only (IR 10); 'names': neither. */
export type TagLevel = 'ir11' | 'metadata' | 'names';

export const CONFIGURATION_NAME = 'onnx_parallelize';
export const HOST_DEVICE = 'cpu';
export const HOST_REPLICA = 'host';

export function tagLevelFor(irVersion: number): TagLevel {
  return irVersion >= 11 ? 'ir11' : irVersion >= 10 ? 'metadata' : 'names';
}

export function irVersionNeeded(level: TagLevel): number {
  return level === 'ir11' ? 11 : level === 'metadata' ? 10 : 0;
}

export function deviceConfiguration(devices: string[]): DeviceConfigurationProto {
  return create(DeviceConfigurationProtoSchema, { name: CONFIGURATION_NAME, numDevices: devices.length, device: devices });
}

/**
 * The tags of one device. Entries and templates are made once and shared by every node of the replica
 * (messages are never modified after the rewrite), which keeps 100,000-node graphs cheap.
 */
export class DeviceTagger {
  private readonly metadata: StringStringEntryProto[];
  private readonly configuration: NodeDeviceConfigurationProto;
  private readonly sharding: ShardingSpecProto;

  constructor(
    private readonly level: TagLevel,
    device: string,
    replica: string,
    deviceIndex: number | undefined,
  ) {
    this.metadata = [makeEntry('device', device), makeEntry('replica', replica)];
    this.configuration = create(NodeDeviceConfigurationProtoSchema, { configurationId: CONFIGURATION_NAME });
    this.sharding = create(ShardingSpecProtoSchema, { device: deviceIndex === undefined ? [] : [BigInt(deviceIndex)] });
  }

  private setMetadata(node: NodeProto): void {
    const kept = node.metadataProps.length === 0 ? node.metadataProps : node.metadataProps.filter((p) => p.key !== 'device' && p.key !== 'replica');
    node.metadataProps = kept.length === 0 ? this.metadata : [...kept, ...this.metadata];
  }

  /** Tags a replica node, and every node of its bodies, with its device. */
  tagReplicaNode(node: NodeProto): void {
    if (this.level === 'names') return;
    this.setMetadata(node);
    if (this.level === 'ir11') {
      const shardingSpec: ShardingSpecProto[] = [];
      for (const tensorName of node.output) if (tensorName !== '') shardingSpec.push(withFields(this.sharding, { tensorName }));
      node.deviceConfigurations = [withFields(this.configuration, { shardingSpec })];
    }
    if (node.attribute.some((a) => a.g !== undefined || a.graphs.length > 0)) {
      for (const { graph } of subgraphsOf(node)) for (const inner of graph.node) this.tagReplicaNode(inner);
    }
  }

  tagHostNode(node: NodeProto): void {
    if (this.level !== 'names') this.setMetadata(node);
  }
}

export const hostTagger = (level: TagLevel): DeviceTagger => new DeviceTagger(level, HOST_DEVICE, HOST_REPLICA, undefined);
