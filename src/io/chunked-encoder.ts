/**
 * Encodes a protobuf message into a list of byte chunks, reusing large `bytes` field values (tensor
 * raw_data, mostly) as they are instead of copying them into one buffer. The concatenation of the chunks
 * equals `toBinary(schema, message)` byte for byte: fields go in field-number order and unknown fields
 * last, as protobuf-es writes them.
 *
 * Messages that hold no large bytes are written with one `toBinary` call; only the "spine" leading to a
 * large value (model -> graph -> initializer, node -> attribute -> tensor, ...) is walked field by field,
 * and runs of small fields or small list items are still written with one `toBinary` call per run. Node lists,
 * the bulk of a large graph, go through the NodeEncoder fast path, which writes the same bytes.
 */
import { create, isFieldSet, toBinary, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { ScalarType } from '@bufbuild/protobuf';
import type { NodeProto } from '../onnx.js';
import { ByteSink, NodeEncoder } from './node-encoder.js';

/** Size of the blocks that encoded nodes are written into: the first is small, the next ones double up to this. */
const BLOCK_BYTES = 1 << 20;
const FIRST_BLOCK_BYTES = 1 << 16;
/** Room left at the end of a block for the node that fills it, so that it is not grown and copied. */
const NODE_ROOM = 4096;

/** Bytes values at least this long are emitted as their own chunk. */
export const LARGE_BYTES = 4096;

type AnyMessage = Message & Record<string, unknown>;

const sortedFieldsCache = new WeakMap<DescMessage, DescField[]>();
function sortedFields(desc: DescMessage): DescField[] {
  let fields = sortedFieldsCache.get(desc);
  if (fields === undefined) {
    fields = [...desc.fields].sort((a, b) => a.number - b.number);
    sortedFieldsCache.set(desc, fields);
  }
  return fields;
}

const mayHoldBytesCache = new WeakMap<DescMessage, boolean>();
/** Whether a message type can contain a bytes field anywhere below it (recursive types included). */
function mayHoldBytes(desc: DescMessage): boolean {
  const known = mayHoldBytesCache.get(desc);
  if (known !== undefined) return known;
  mayHoldBytesCache.set(desc, false); // provisional, breaks cycles
  let result = false;
  for (const field of desc.fields) {
    if ((field.fieldKind === 'scalar' || (field.fieldKind === 'list' && field.listKind === 'scalar')) && field.scalar === ScalarType.BYTES) result = true;
    else if (field.fieldKind === 'message' && mayHoldBytes(field.message)) result = true;
    else if (field.fieldKind === 'list' && field.listKind === 'message' && mayHoldBytes(field.message)) result = true;
    if (result) break;
  }
  mayHoldBytesCache.set(desc, result);
  return result;
}

/** Whether a message holds a bytes value of at least LARGE_BYTES somewhere below it. */
function holdsLargeBytes(desc: DescMessage, message: AnyMessage): boolean {
  if (!mayHoldBytes(desc)) return false;
  for (const field of desc.fields) {
    if (field.oneof !== undefined) continue; // ONNX's spine messages have no oneofs; oneof members are written by toBinary
    const value = message[field.localName];
    if (field.fieldKind === 'scalar' && field.scalar === ScalarType.BYTES) {
      if ((value as Uint8Array).length >= LARGE_BYTES) return true;
    } else if (field.fieldKind === 'message') {
      if (value !== undefined && holdsLargeBytes(field.message, value as AnyMessage)) return true;
    } else if (field.fieldKind === 'list' && field.listKind === 'message') {
      for (const item of value as AnyMessage[]) if (holdsLargeBytes(field.message, item)) return true;
    }
  }
  return false;
}

function lengthDelimitedHeader(fieldNumber: number, length: number): Uint8Array {
  return new BinaryWriter().tag(fieldNumber, WireType.LengthDelimited).uint32(length).finish();
}

/** Messages written field by field even without large bytes: those that hold node lists, the bulk of a graph. */
const nodeHolders = new Set(['onnx.ModelProto', 'onnx.GraphProto', 'onnx.FunctionProto', 'onnx.TrainingInfoProto']);

/**
 * Where the node lists of one encoding are written: blocks shared by all lists (a model of many local functions
 * or bodies must not hold a block for each), every part written handed out as a chunk when its list ends or its
 * block is full. No buffer is grown and copied, and no block is copied again.
 */
class NodeBlocks {
  readonly encoder = new NodeEncoder();
  private sink = new ByteSink(FIRST_BLOCK_BYTES + NODE_ROOM);
  /** Where the part not handed out yet starts. */
  private start = 0;

  /** Writes `node` as field `fieldNumber`; returns the bytes handed out to `out` (when the block filled up). */
  write(fieldNumber: number, node: NodeProto, out: Uint8Array[]): number {
    this.encoder.write(this.sink, fieldNumber, node);
    return this.sink.length + NODE_ROOM >= this.sink.bytes.length ? this.flush(out) : 0;
  }

  /** Hands out what was written since the last call as one chunk, and returns its length. */
  flush(out: Uint8Array[]): number {
    const sink = this.sink;
    const length = sink.length - this.start;
    if (length > 0) out.push(sink.bytes.subarray(this.start, sink.length));
    this.start = sink.length;
    if (sink.length + NODE_ROOM >= sink.bytes.length) {
      this.sink = new ByteSink(Math.min(2 * sink.bytes.length, BLOCK_BYTES) + NODE_ROOM);
      this.start = 0;
    }
    return length;
  }
}

/** Appends the encoding of `message` to `out` and returns its length in bytes. */
export function encodeChunks(desc: DescMessage, message: Message, out: Uint8Array[], nodes: NodeBlocks = new NodeBlocks()): number {
  const msg = message as AnyMessage;
  if (!nodeHolders.has(desc.typeName) && !holdsLargeBytes(desc, msg)) {
    const bytes = toBinary(desc, message);
    out.push(bytes);
    return bytes.length;
  }
  let total = 0;
  let group: AnyMessage | undefined;
  const flush = (): void => {
    if (group === undefined) return;
    const bytes = toBinary(desc, group);
    out.push(bytes);
    total += bytes.length;
    group = undefined;
  };
  const addToGroup = (localName: string, value: unknown): void => {
    group ??= create(desc) as AnyMessage;
    group[localName] = value;
  };
  const emitNested = (fieldNumber: number, nestedDesc: DescMessage, nested: AnyMessage): void => {
    flush();
    const parts: Uint8Array[] = [];
    const length = encodeChunks(nestedDesc, nested, parts, nodes);
    const header = lengthDelimitedHeader(fieldNumber, length);
    out.push(header, ...parts);
    total += header.length + length;
  };
  for (const field of sortedFields(desc)) {
    if (!isFieldSet(message, field)) continue;
    if (field.oneof !== undefined) {
      addToGroup(field.oneof.localName, msg[field.oneof.localName]);
      continue;
    }
    const value = msg[field.localName];
    if (field.fieldKind === 'scalar' && field.scalar === ScalarType.BYTES && (value as Uint8Array).length >= LARGE_BYTES) {
      flush();
      const bytes = value as Uint8Array;
      const header = lengthDelimitedHeader(field.number, bytes.length);
      out.push(header, bytes);
      total += header.length + bytes.length;
    } else if (field.fieldKind === 'message' && (nodeHolders.has(field.message.typeName) || holdsLargeBytes(field.message, value as AnyMessage))) {
      emitNested(field.number, field.message, value as AnyMessage);
    } else if (field.fieldKind === 'list' && field.listKind === 'message' && field.message.typeName === 'onnx.NodeProto') {
      flush();
      for (const node of value as NodeProto[]) {
        if (node.attribute.length > 0 && holdsLargeBytes(field.message, node as AnyMessage)) {
          total += nodes.flush(out);
          emitNested(field.number, field.message, node as AnyMessage);
          continue;
        }
        total += nodes.write(field.number, node, out);
      }
      total += nodes.flush(out);
    } else if (field.fieldKind === 'list' && field.listKind === 'message' && nodeHolders.has(field.message.typeName)) {
      for (const item of value as AnyMessage[]) emitNested(field.number, field.message, item);
    } else if (field.fieldKind === 'list' && field.listKind === 'message') {
      let run: AnyMessage[] = [];
      for (const item of value as AnyMessage[]) {
        if (holdsLargeBytes(field.message, item)) {
          if (run.length > 0) addToGroup(field.localName, run);
          run = [];
          emitNested(field.number, field.message, item);
        } else {
          run.push(item);
        }
      }
      if (run.length > 0) addToGroup(field.localName, run);
    } else {
      addToGroup(field.localName, value);
    }
  }
  if (msg.$unknown !== undefined) addToGroup('$unknown', msg.$unknown);
  flush();
  return total;
}
