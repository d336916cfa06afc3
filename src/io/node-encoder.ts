/**
 * A fast encoder for NodeProto, the bulk of a large graph: the rewrite of a 100,000-node graph writes 400,000
 * of them. It gives exactly the bytes of protobuf-es `toBinary` (fields in number order, proto2 presence,
 * unknown fields last; a test checks this on every node of the fixtures, the conformance models and their
 * rewrites), but writes strings straight into one buffer and encodes each shared sub-message (attributes,
 * metadata entries) once per call instead of once per node.
 */
import { toBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  NodeDeviceConfigurationProtoSchema,
  NodeProtoSchema,
  StringStringEntryProtoSchema,
  type NodeDeviceConfigurationProto,
  type NodeProto,
  type ShardingSpecProto,
} from '../onnx.js';
import { placementConfigurations, placementOf, type Placement } from '../graph/placement.js';
import { isInt64 } from '../graph/types.js';

const LEN = 2;
const VARINT = 0;

/** A growable byte buffer with the few protobuf primitives the node encoder needs. */
export class ByteSink {
  bytes: Buffer;
  length = 0;

  constructor(capacity = 1 << 16) {
    this.bytes = Buffer.allocUnsafe(capacity);
  }

  private reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + extra) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }

  varint(value: number): void {
    this.reserve(10);
    while (value > 0x7f) {
      this.bytes[this.length++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.length++] = value;
  }

  varint64(value: bigint): void {
    if (value >= 0n && value <= 0x7fffffffn) {
      this.varint(Number(value));
      return;
    }
    let v = BigInt.asUintN(64, value);
    this.reserve(10);
    while (v > 0x7fn) {
      this.bytes[this.length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.bytes[this.length++] = Number(v);
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Appends bytes [start, end) of this sink again (a copy of an earlier field). */
  repeat(start: number, end: number): void {
    this.reserve(end - start);
    // Short runs: a plain loop beats the native call of Buffer.copy.
    const bytes = this.bytes;
    let at = this.length;
    for (let i = start; i < end; i++) bytes[at++] = bytes[i]!;
    this.length = at;
  }

  lengthDelimited(field: number, bytes: Uint8Array): void {
    this.tag(field, LEN);
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /**
   * Starts a length-delimited field whose length is not known yet, with room for a one-byte length; returns
   * where its content starts, to pass to `end`.
   */
  begin(field: number): number {
    this.tag(field, LEN);
    this.reserve(1);
    this.length += 1;
    return this.length;
  }

  /** Ends the field begun at `start`: writes its length, moving the content on if it needs more than one byte. */
  end(start: number): void {
    const size = this.length - start;
    if (size < 0x80) {
      this.bytes[start - 1] = size;
      return;
    }
    let extra = 0;
    for (let v = size; v > 0x7f; v = Math.floor(v / 128)) extra++;
    this.reserve(extra);
    this.bytes.copyWithin(start + extra, start, this.length);
    let at = start - 1;
    let v = size;
    for (; v > 0x7f; v = Math.floor(v / 128)) this.bytes[at++] = (v & 0x7f) | 0x80;
    this.bytes[at] = v;
    this.length += extra;
  }

  string(field: number, value: string): void {
    const start = this.begin(field);
    const size = value.length;
    this.reserve(3 * size);
    if (size <= 64) {
      // Names are short and nearly always ASCII: a loop beats the native call of utf8Write.
      const bytes = this.bytes;
      let at = this.length;
      let i = 0;
      for (; i < size; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        bytes[at++] = code;
      }
      if (i === size) {
        this.length = at;
        this.end(start);
        return;
      }
    }
    this.length += (this.bytes as Buffer & { utf8Write(s: string, offset: number): number }).utf8Write(value, this.length);
    this.end(start);
  }
}

type Fields = Record<string, unknown>;
const own = (message: object, key: string): boolean => Object.prototype.hasOwnProperty.call(message, key) && (message as Fields)[key] !== undefined;

/** Encodings of messages shared between nodes, valid for one encoding call. */
export class SubMessageCache {
  private readonly cache = new Map<object, Uint8Array>();
  bytesOf(desc: DescMessage, message: Message): Uint8Array {
    let bytes = this.cache.get(message);
    if (bytes === undefined) {
      bytes = toBinary(desc, message);
      this.cache.set(message, bytes);
    }
    return bytes;
  }
}

/**
 * Whether a spec is written here rather than by toBinary: tensor name and devices only, each device an int64
 * (toBinary refuses one that is not, and so must this encoder).
 */
function simpleSharding(spec: ShardingSpecProto): boolean {
  return spec.$unknown === undefined && spec.indexToDeviceGroupMap.length === 0 && spec.shardedDim.length === 0 && spec.device.every(isInt64);
}

/**
 * Encoded string fields that repeat from node to node (op types, domains, the device configuration id), kept
 * per field number; names, which are unique, are not kept.
 */
class RepeatedStrings {
  /** By field number, then value (no key is built per call: this runs for every node). */
  private readonly fields = new Map<number, Map<string, Uint8Array>>();
  private readonly scratch = new ByteSink(256);

  write(sink: ByteSink, field: number, value: string): void {
    let known = this.fields.get(field);
    if (known === undefined) {
      known = new Map();
      this.fields.set(field, known);
    }
    let encoded = known.get(value);
    if (encoded === undefined) {
      this.scratch.length = 0;
      this.scratch.string(field, value);
      encoded = Uint8Array.prototype.slice.call(this.scratch.bytes, 0, this.scratch.length);
      if (known.size < 4096) known.set(value, encoded);
    }
    sink.raw(encoded);
  }
}

/** Writes nodes straight into the caller's sink; keeps what is shared between nodes. */
export class NodeEncoder {
  private readonly repeated = new RepeatedStrings();
  readonly cache = new SubMessageCache();

  /** The node being written: its outputs, and where output k's field (tag, length, bytes) lies in the sink. */
  private outputs: string[] = [];
  private readonly outputStarts: number[] = [];
  private readonly outputEnds: number[] = [];

  private simple(config: NodeDeviceConfigurationProto): boolean {
    const stage = config.pipelineStage;
    const plainStage = !own(config, 'pipelineStage') || (Number.isInteger(stage) && stage >= 0 && stage <= 0x7fffffff);
    return config.$unknown === undefined && config.shardingSpec.every(simpleSharding) && plainStage;
  }

  /**
   * Writes a simple sharding spec (tensor_name and devices only) as field 2 of a NodeDeviceConfigurationProto;
   * `output` is the index of the node output it names, if it names one.
   */
  private writeSpec(sink: ByteSink, tensorName: string | undefined, output: number, devices: bigint[]): void {
    const start = sink.begin(2);
    if (tensorName !== undefined) {
      // Output fields (number 2) and tensor_name (number 1) differ only in the tag byte.
      if (output < 0) sink.string(1, tensorName);
      else {
        sink.tag(1, LEN);
        sink.repeat(this.outputStarts[output]! + 1, this.outputEnds[output]!);
      }
    }
    for (const device of devices) {
      sink.tag(2, VARINT);
      sink.varint64(device);
    }
    sink.end(start);
  }

  /** The device_configurations a placement derives from the node's outputs, written without building them. */
  private writePlacement(sink: ByteSink, placement: Placement, outputs: string[]): void {
    const { configuration, sharding } = placement;
    if (!this.simple(configuration) || !simpleSharding(sharding)) {
      this.writeDeviceConfiguration(sink, placementConfigurations(placement, outputs)[0]!);
      return;
    }
    const start = sink.begin(10);
    if (own(configuration, 'configurationId')) this.repeated.write(sink, 1, configuration.configurationId);
    for (let k = 0; k < outputs.length; k++) if (outputs[k] !== '') this.writeSpec(sink, outputs[k], k, sharding.device);
    this.endConfiguration(sink, configuration, start);
  }

  private writeDeviceConfiguration(sink: ByteSink, config: NodeDeviceConfigurationProto): void {
    if (!this.simple(config)) {
      sink.lengthDelimited(10, this.cache.bytesOf(NodeDeviceConfigurationProtoSchema, config));
      return;
    }
    const start = sink.begin(10);
    if (own(config, 'configurationId')) this.repeated.write(sink, 1, config.configurationId);
    for (const spec of config.shardingSpec) {
      const named = own(spec, 'tensorName');
      this.writeSpec(sink, named ? spec.tensorName : undefined, named ? this.outputs.indexOf(spec.tensorName) : -1, spec.device);
    }
    this.endConfiguration(sink, config, start);
  }

  /** Writes pipeline_stage and ends the configuration begun at `start`. */
  private endConfiguration(sink: ByteSink, config: NodeDeviceConfigurationProto, start: number): void {
    if (own(config, 'pipelineStage')) {
      sink.tag(3, VARINT);
      sink.varint(config.pipelineStage);
    }
    sink.end(start);
  }

  /** Appends `node` to `sink` as field `fieldNumber` of its parent (GraphProto.node is 1, FunctionProto.node 7). */
  write(sink: ByteSink, fieldNumber: number, node: NodeProto): void {
    if (node.$unknown !== undefined) {
      sink.lengthDelimited(fieldNumber, toBinary(NodeProtoSchema, node));
      return;
    }
    const start = sink.begin(fieldNumber);
    for (const input of node.input) sink.string(1, input);
    // A placed node derives its configurations when read: write them from the outputs instead.
    const placement = placementOf(node);
    const deviceConfigurations = placement === undefined ? node.deviceConfigurations : [];
    this.outputs = node.output;
    for (let k = 0; k < node.output.length; k++) {
      this.outputStarts[k] = sink.length;
      sink.string(2, node.output[k]!);
      this.outputEnds[k] = sink.length;
    }
    if (own(node, 'name')) sink.string(3, node.name);
    if (own(node, 'opType')) this.repeated.write(sink, 4, node.opType);
    for (const attribute of node.attribute) sink.lengthDelimited(5, this.cache.bytesOf(AttributeProtoSchema, attribute));
    if (own(node, 'docString')) sink.string(6, node.docString);
    if (own(node, 'domain')) this.repeated.write(sink, 7, node.domain);
    if (own(node, 'overload')) sink.string(8, node.overload);
    for (const entry of node.metadataProps) sink.lengthDelimited(9, this.cache.bytesOf(StringStringEntryProtoSchema, entry));
    if (placement !== undefined) this.writePlacement(sink, placement, node.output);
    for (const config of deviceConfigurations) this.writeDeviceConfiguration(sink, config);
    sink.end(start);
  }
}
