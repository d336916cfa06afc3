/** A summary of a model for people (`inspect`) and scripts (`inspect --json`). */
import type { ModelProto, NodeProto, TensorProto, ValueInfoProto } from './onnx.js';
import { describeType, formatShape, isDefaultDomain, shapeOf, type Dim } from './graph/types.js';
import { forEachGraph, forEachNodeList, forEachTensor, subgraphsOf } from './graph/walk.js';
import { externalReference } from './io/external-data.js';
import { mainGraph } from './graph/model.js';
import { readPlan } from './transform/plan.js';

export interface ValueSummary {
  name: string;
  type: string;
  shape: Dim[] | null;
}

export interface InspectReport {
  irVersion: number;
  opsets: Array<{ domain: string; version: number }>;
  producer: { name: string; version: string };
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  nodes: { total: number; byOpType: Record<string, number> };
  initializers: { count: number; bytes: number };
  externalData: Array<{ location: string; tensors: number; bytes: number }>;
  subgraphs: Array<{ node: string; opType: string; attribute: string; nodes: number }>;
  functions: Array<{ domain: string; name: string; nodes: number }>;
  devices: {
    configurations: Array<{ name: string; numDevices: number; devices: string[] }>;
    annotatedNodes: number;
    byDevice: Record<string, number>;
  };
  /** The data-parallel plan of a model rewritten by onnx-parallelize. */
  parallel: { devices: string[]; weights: number[]; inputs: Array<{ name: string; axis: number | null }>; outputs: Array<{ name: string; axis: number | null; combine: string | null }> } | null;
}

function summarizeValue(info: ValueInfoProto): ValueSummary {
  return { name: info.name, type: describeType(info.type), shape: shapeOf(info) ?? null };
}

function tensorBytes(tensor: TensorProto): number {
  const reference = externalReference(tensor);
  if (reference !== undefined) return Number(reference.length ?? 0n);
  return (
    tensor.rawData.length +
    tensor.floatData.length * 4 +
    tensor.int32Data.length * 4 +
    tensor.int64Data.length * 8 +
    tensor.doubleData.length * 8 +
    tensor.uint64Data.length * 8 +
    tensor.stringData.reduce((sum, s) => sum + s.length, 0)
  );
}

function nodeLabel(node: NodeProto): string {
  return node.name !== '' ? node.name : `${node.opType}(${node.output.join(', ')})`;
}

function parallelSummary(model: ModelProto): InspectReport['parallel'] {
  const plan = readPlan(model);
  if (plan === undefined) return null;
  return {
    devices: plan.devices,
    weights: plan.weights,
    inputs: plan.inputs.map((i) => ({ name: i.name, axis: i.axis })),
    outputs: plan.outputs.map((o) => ({ name: o.name, axis: o.axis, combine: o.combine })),
  };
}

export function inspectModel(model: ModelProto): InspectReport {
  const graph = mainGraph(model);
  const byOpType: Record<string, number> = {};
  let total = 0;
  forEachNodeList(model, (nodes) => {
    for (const node of nodes) {
      const key = isDefaultDomain(node.domain) ? node.opType : `${node.domain}.${node.opType}`;
      byOpType[key] = (byOpType[key] ?? 0) + 1;
      total += 1;
    }
  });
  const subgraphs: InspectReport['subgraphs'] = [];
  forEachGraph(graph, (g) => {
    for (const node of g.node) {
      for (const { attribute, graph: sub } of subgraphsOf(node)) {
        subgraphs.push({ node: nodeLabel(node), opType: node.opType, attribute: attribute.name, nodes: sub.node.length });
      }
    }
  });
  const external = new Map<string, { tensors: number; bytes: number }>();
  forEachTensor(model, (tensor) => {
    const reference = externalReference(tensor);
    if (reference === undefined) return;
    const entry = external.get(reference.location) ?? { tensors: 0, bytes: 0 };
    entry.tensors += 1;
    entry.bytes += Number(reference.length ?? 0n);
    external.set(reference.location, entry);
  });
  const byDevice: Record<string, number> = {};
  let annotatedNodes = 0;
  forEachNodeList(model, (nodes) => {
    for (const node of nodes) {
      const device = node.metadataProps.find((p) => p.key === 'device')?.value;
      if (node.deviceConfigurations.length > 0 || device !== undefined) annotatedNodes += 1;
      if (device !== undefined) byDevice[device] = (byDevice[device] ?? 0) + 1;
    }
  });
  return {
    irVersion: Number(model.irVersion),
    opsets: model.opsetImport.map((o) => ({ domain: o.domain === '' ? 'ai.onnx' : o.domain, version: Number(o.version) })),
    producer: { name: model.producerName, version: model.producerVersion },
    inputs: graph.input.map(summarizeValue),
    outputs: graph.output.map(summarizeValue),
    nodes: { total, byOpType },
    initializers: {
      count: graph.initializer.length + graph.sparseInitializer.length,
      bytes: graph.initializer.reduce((sum, t) => sum + tensorBytes(t), 0),
    },
    externalData: [...external].map(([location, entry]) => ({ location, ...entry })),
    subgraphs,
    functions: model.functions.map((f) => ({ domain: f.domain, name: f.name, nodes: f.node.length })),
    parallel: parallelSummary(model),
    devices: {
      configurations: model.configuration.map((c) => ({ name: c.name, numDevices: c.numDevices, devices: [...c.device] })),
      annotatedNodes,
      byDevice,
    },
  };
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatInspectReport(file: string, report: InspectReport): string {
  const lines: string[] = [];
  const value = (v: ValueSummary): string => `  ${v.name}: ${v.type} ${formatShape(v.shape ?? undefined)}`;
  lines.push(`${file}`);
  lines.push(`IR version ${report.irVersion}; opsets ${report.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`);
  if (report.producer.name !== '') lines.push(`producer ${report.producer.name} ${report.producer.version}`.trimEnd());
  lines.push(`inputs (${report.inputs.length}):`, ...report.inputs.map(value));
  lines.push(`outputs (${report.outputs.length}):`, ...report.outputs.map(value));
  const ops = Object.entries(report.nodes.byOpType).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  lines.push(`nodes: ${report.nodes.total} (${ops.map(([op, n]) => `${op} ${n}`).join(', ')})`);
  lines.push(`initializers: ${report.initializers.count}, ${formatBytes(report.initializers.bytes)}`);
  for (const e of report.externalData) lines.push(`external data: ${e.location} (${e.tensors} tensors, ${formatBytes(e.bytes)})`);
  for (const s of report.subgraphs) lines.push(`subgraph: ${s.node} (${s.opType}).${s.attribute}, ${s.nodes} nodes`);
  for (const f of report.functions) lines.push(`function: ${f.domain}.${f.name}, ${f.nodes} nodes`);
  for (const c of report.devices.configurations) lines.push(`device configuration ${c.name}: ${c.numDevices} devices (${c.devices.join(', ')})`);
  if (report.parallel !== null) {
    const split = report.parallel.inputs.map((i) => `${i.name}${i.axis === null ? ' shared' : `@${i.axis}`}`).join(', ');
    lines.push(`data-parallel: ${report.parallel.devices.length} replicas on ${report.parallel.devices.join(', ')} (weights ${report.parallel.weights.join(':')}; inputs ${split})`);
  }
  if (report.devices.annotatedNodes > 0) {
    const per = Object.entries(report.devices.byDevice).map(([d, n]) => `${d} ${n}`).join(', ');
    lines.push(`device-annotated nodes: ${report.devices.annotatedNodes}${per === '' ? '' : ` (${per})`}`);
  }
  return lines.join('\n');
}
