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
  type NodeProto,
  type StringStringEntryProto,
} from '../onnx.js';
import { makeEntry } from '../graph/build.js';
import { copyNode, type Placement } from '../graph/placement.js';

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

const withoutTags = (entries: StringStringEntryProto[]): StringStringEntryProto[] =>
  entries.length === 0 ? entries : entries.filter((p) => p.key !== 'device' && p.key !== 'replica');

/**
 * The tags of one device. Entries are made once and shared by every node of the replica (messages are never
 * modified after the rewrite). At IR 11 the replica's nodes derive their `device_configurations` from their
 * outputs when read: a 100,000-node graph written for 4 devices would otherwise keep 400,000 configurations and
 * sharding specs alive only to encode them once (see graph/placement.ts).
 */
export class DeviceTagger {
  private readonly metadata: StringStringEntryProto[];
  /** How this device's replica nodes derive their device_configurations (IR 11 only). */
  private readonly placement: Placement | undefined;

  constructor(
    private readonly level: TagLevel,
    device: string,
    replica: string,
    deviceIndex: number | undefined,
  ) {
    this.metadata = [makeEntry('device', device), makeEntry('replica', replica)];
    this.placement =
      level === 'ir11'
        ? {
            configuration: create(NodeDeviceConfigurationProtoSchema, { configurationId: CONFIGURATION_NAME }),
            sharding: create(ShardingSpecProtoSchema, { device: deviceIndex === undefined ? [] : [BigInt(deviceIndex)] }),
          }
        : undefined;
  }

  /** A replica node of this device: `template` with the names given, tagged. */
  replicaNode(template: NodeProto, input: string[], output: string[], name: string | undefined, attribute: NodeProto['attribute']): NodeProto {
    return copyNode(template, { input, output, name, attribute, metadataProps: this.metadataFor(template.metadataProps) }, this.placement);
  }

  /** A node's own metadata without earlier device tags, plus this device's (none at level 'names'). */
  private metadataFor(entries: StringStringEntryProto[]): StringStringEntryProto[] {
    const kept = withoutTags(entries);
    if (this.level === 'names') return kept;
    return kept.length === 0 ? this.metadata : [...kept, ...this.metadata];
  }

  tagHostNode(node: NodeProto): void {
    if (this.level !== 'names') node.metadataProps = this.metadataFor(node.metadataProps);
  }
}

export const hostTagger = (level: TagLevel): DeviceTagger => new DeviceTagger(level, HOST_DEVICE, HOST_REPLICA, undefined);
