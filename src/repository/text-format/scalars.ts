/**
 * Scalar values of a protobuf field in the canonical JSON form (proto3 JSON, proto field names): 32-bit integers
 * and floats as numbers, 64-bit integers as decimal strings, enums by name (a number when the enum has no name
 * for it: proto3 enums are open), bytes as base64. Shared by the text-format parser and the JSON reader.
 */
import protobuf from 'protobufjs';

const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

export const isIntegerType = (type: string): boolean => type in INTEGER_RANGES;
export const isFloatType = (type: string): boolean => type === 'float' || type === 'double';
const is64Bit = (type: string): boolean => type.endsWith('64') && type !== 'double';

/** The JSON value of an integer of `type`, or a sentence saying why it does not fit. */
export function integerOf(type: string, value: bigint): { value: number | string } | { problem: string } {
  const [min, max] = INTEGER_RANGES[type]!;
  if (value < min || value > max) return { problem: `${value} is out of range for ${type} (${min} to ${max})` };
  return { value: is64Bit(type) ? value.toString() : Number(value) };
}

/** A float in JSON: a number, or "NaN", "Infinity", "-Infinity" as proto3 JSON writes them. */
export function floatOf(value: number): number | string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
}

/** An enum value by name or number: the name when the enum has one, else the number; undefined for an unknown name. */
export function enumOf(type: protobuf.Enum, value: string | number, ignoreCase = false): string | number | undefined {
  if (typeof value === 'number') return type.valuesById[value] ?? value;
  if (Object.hasOwn(type.values, value)) return value;
  if (!ignoreCase) return undefined;
  return Object.keys(type.values).find((name) => name.toLowerCase() === value.toLowerCase());
}

export function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** The zero value of a scalar or enum field, as proto3 JSON writes it. */
export function defaultOf(field: protobuf.Field): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return type0Name(resolved);
  if (field.type === 'bool') return false;
  if (field.type === 'string' || field.type === 'bytes') return '';
  if (isIntegerType(field.type)) return is64Bit(field.type) ? '0' : 0;
  return 0;
}

function type0Name(type: protobuf.Enum): string | number {
  return type.valuesById[0] ?? 0;
}

/** Whether a JSON value is its field's zero value (proto3 scalars without presence are "set" only when not zero). */
export function isDefault(field: protobuf.Field, value: unknown): boolean {
  const zero = defaultOf(field);
  return value === zero || (typeof zero === 'string' && zero === '0' && value === 0) || (typeof zero === 'number' && Number(value) === 0 && value !== '');
}
