/** Appends new nodes (split, join, combine) to a list, with fresh names and the forms valid at the model's opset. */
import type { NodeProto, TensorProto } from '../onnx.js';
import { TensorProto_DataType } from '../onnx.js';
import { elementSize, int64Tensor, makeNode, makeTensor, type AttributeValue } from '../graph/build.js';
import type { NameAllocator } from './names.js';

export class NodeEmitter {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly int64Constants = new Map<string, string>();

  constructor(
    private readonly names: NameAllocator,
    /** Default-domain opset of the output model. */
    readonly opset: number,
    private readonly stem: string,
  ) {}

  /** A fresh name for a value inside a body this emitter builds. */
  freshName(hint: string): string {
    return this.names.fresh(`${this.stem}/${hint}`);
  }

  /** Adds a node and returns its (fresh) output names. */
  emitMany(opType: string, inputs: string[], outputCount: number, attributes: Record<string, AttributeValue> = {}, hint = opType): string[] {
    const outputs = Array.from({ length: outputCount }, (_, k) => this.names.fresh(`${this.stem}/${hint}${outputCount > 1 ? `_${k}` : ''}`));
    this.nodes.push(makeNode(opType, inputs, outputs, attributes, { name: this.names.fresh(`${this.stem}/${hint}_node`) }));
    return outputs;
  }

  /** Adds a node whose output has a given name (a graph output). */
  emitTo(output: string, opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): void {
    this.nodes.push(makeNode(opType, inputs, [output], attributes, { name: this.names.fresh(`${this.stem}/${opType}_${output}`) }));
  }

  /** A scalar initializer of any numeric element type, all bits zero. */
  zero(dataType: TensorProto_DataType): string {
    const name = this.names.fresh(`${this.stem}/zero`);
    this.initializers.push(makeTensor(name, dataType, [], new Uint8Array(elementSize(dataType) ?? 4)));
    return name;
  }

  emit(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, hint = opType): string {
    return this.emitMany(opType, inputs, 1, attributes, hint)[0]!;
  }

  /** A 1-D int64 initializer, shared between uses. */
  int64s(values: number[], hint = 'const'): string {
    const key = values.join(',');
    let name = this.int64Constants.get(key);
    if (name === undefined) {
      name = this.names.fresh(`${this.stem}/${hint}`);
      this.initializers.push(int64Tensor(name, values));
      this.int64Constants.set(key, name);
    }
    return name;
  }

  /** A rank-0 int64 initializer. */
  int64Scalar(value: number, hint: string): string {
    const name = this.names.fresh(`${this.stem}/${hint}`);
    this.initializers.push(int64Tensor(name, [value], []));
    return name;
  }

  /** A scalar initializer of a given element type (float types only). */
  scalar(value: number, dataType: TensorProto_DataType, hint = 'scalar'): string {
    const name = this.names.fresh(`${this.stem}/${hint}`);
    const data = dataType === TensorProto_DataType.DOUBLE ? Float64Array.of(value) : Float32Array.of(value);
    this.initializers.push(makeTensor(name, dataType === TensorProto_DataType.DOUBLE ? dataType : TensorProto_DataType.FLOAT, [], data));
    return name;
  }

  unsqueeze(input: string, axis: number): string {
    return this.opset >= 13 ? this.emit('Unsqueeze', [input, this.int64s([axis])]) : this.emit('Unsqueeze', [input], { axes: [axis] });
  }
}
