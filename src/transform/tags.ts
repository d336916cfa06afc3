/**
 * Device tags. IR 11 multi-device annotations: one DeviceConfigurationProto on the model, and on every replica
 * node a NodeDeviceConfigurationProto placing its outputs on its device. Every node also gets metadata_props
 * `device` and `replica` for readers that ignore IR 11. Split and join nodes are tagged as host (`cpu`).
 */
import { create } from '@bufbuild/protobuf';
import { DeviceConfigurationProtoSchema, NodeDeviceConfigurationProtoSchema, ShardingSpecProtoSchema, type DeviceConfigurationProto, type NodeProto } from '../onnx.js';
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

function setMetadata(node: NodeProto, device: string, replica: string): void {
  node.metadataProps = [...node.metadataProps.filter((p) => p.key !== 'device' && p.key !== 'replica'), makeEntry('device', device), makeEntry('replica', replica)];
}

/** Tags a replica node, and every node of its bodies, with its device. */
export function tagReplicaNode(node: NodeProto, level: TagLevel, device: string, deviceIndex: number): void {
  if (level === 'names') return;
  setMetadata(node, device, String(deviceIndex));
  if (level === 'ir11') {
    node.deviceConfigurations = [
      create(NodeDeviceConfigurationProtoSchema, {
        configurationId: CONFIGURATION_NAME,
        shardingSpec: node.output.filter((o) => o !== '').map((tensorName) => create(ShardingSpecProtoSchema, { tensorName, device: [BigInt(deviceIndex)] })),
      }),
    ];
  }
  for (const { graph } of subgraphsOf(node)) for (const inner of graph.node) tagReplicaNode(inner, level, device, deviceIndex);
}

export function tagHostNode(node: NodeProto, level: TagLevel): void {
  if (level !== 'names') setMetadata(node, HOST_DEVICE, HOST_REPLICA);
}
