/**
 * A message in protobuf's JSON mapping checked against its schema, as protobuf's JsonStringToMessage reads it
 * with Triton's options (unknown fields refused, enum names in any case): field names as the .proto spells them
 * or in lowerCamelCase, 64-bit integers as numbers or strings, `null` for a field left out. The result is the
 * canonical JSON form the text-format parser gives, so both sources go through the same checks.
 */
import protobuf from 'protobufjs';
import { enumOf, floatOf, integerOf, isFloatType, isIntegerType } from './scalars.js';
import { setKey, type JsonObject } from './parser.js';

/** A value that does not fit its field; `path` is where (`input[0].dims[1]`). */
export class JsonSchemaError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path === '' ? '' : `${path}: `}${detail}`);
  }
}

const kindOf = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`);

export function readJsonMessage(json: unknown, type: protobuf.Type): JsonObject {
  return readMessage(json, type, '');
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function readMessage(json: unknown, type: protobuf.Type, path: string): JsonObject {
  const typeName = type.fullName.replace(/^\./, '');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new JsonSchemaError(path, `expected an object (${typeName}), got ${kindOf(json)}`);
  const message: JsonObject = {};
  const oneofSet = new Map<string, string>();
  for (const [key, value] of Object.entries(json)) {
    const field = (Object.hasOwn(type.fields, key) ? type.fields[key] : undefined) ?? type.fieldsArray.find((f) => camel(f.name) === key);
    if (field === undefined) throw new JsonSchemaError(path, `unknown field "${key}" in ${typeName}; its fields are ${type.fieldsArray.map((f) => f.name).join(', ')}`);
    if (field.name in message) throw new JsonSchemaError(join(path, key), `field "${field.name}" is given twice (as "${field.name}" and "${camel(field.name)}")`);
    if (value === null) continue;
    const oneof = field.partOf;
    if (oneof !== null && oneof !== undefined) {
      const other = oneofSet.get(oneof.name);
      if (other !== undefined) throw new JsonSchemaError(join(path, key), `field "${field.name}" is given along with "${other}", another member of oneof "${oneof.name}"`);
      oneofSet.set(oneof.name, field.name);
    }
    message[field.name] = readField(value, field, join(path, field.name));
  }
  return message;
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function readField(value: unknown, field: protobuf.Field, path: string): unknown {
  if (field instanceof protobuf.MapField) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JsonSchemaError(path, `expected an object (map<${field.keyType}, ${field.type}>), got ${kindOf(value)}`);
    const map: JsonObject = {};
    const keyField = new protobuf.Field('key', 1, field.keyType);
    for (const [key, entry] of Object.entries(value)) {
      const keyValue = field.keyType === 'string' ? key : field.keyType === 'bool' ? readScalar(key === 'true' ? true : key === 'false' ? false : key, keyField, `${path}[${JSON.stringify(key)}]`) : readScalar(key, keyField, `${path}[${JSON.stringify(key)}]`);
      setKey(map, String(keyValue), readSingle(entry, field, `${path}[${JSON.stringify(key)}]`));
    }
    return map;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw new JsonSchemaError(path, `expected an array (repeated ${field.type}), got ${kindOf(value)}`);
    return value.map((item, i) => {
      if (item === null) throw new JsonSchemaError(`${path}[${i}]`, 'null is not allowed in a repeated field');
      return readSingle(item, field, `${path}[${i}]`);
    });
  }
  return readSingle(value, field, path);
}

function readSingle(value: unknown, field: protobuf.Field, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return readMessage(value, resolved, path);
  return readScalar(value, field, path);
}

function readScalar(value: unknown, field: protobuf.Field, path: string): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    const name = resolved.fullName.replace(/^\./, '');
    if (typeof value === 'number' && Number.isInteger(value)) return enumOf(resolved, value);
    if (typeof value === 'string') {
      const found = enumOf(resolved, value, true);
      if (found !== undefined) return found;
      throw new JsonSchemaError(path, `unknown value "${value}" of enum ${name} (${Object.keys(resolved.values).join(', ')})`);
    }
    throw new JsonSchemaError(path, `expected a name of enum ${name}, got ${kindOf(value)}`);
  }
  if (isIntegerType(field.type)) {
    let integer: bigint | undefined;
    if (typeof value === 'number' && Number.isInteger(value)) integer = BigInt(value);
    else if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) integer = BigInt(value.trim());
    else if (typeof value === 'string' && /^-?\d+(\.0*)?(e\+?\d+)?$/i.test(value.trim()) && Number.isInteger(Number(value))) integer = BigInt(Number(value));
    if (integer === undefined) throw new JsonSchemaError(path, `expected an integer (${field.type}), got ${kindOf(value)}`);
    const result = integerOf(field.type, integer);
    if ('problem' in result) throw new JsonSchemaError(path, result.problem);
    return result.value;
  }
  if (isFloatType(field.type)) {
    if (typeof value === 'number') return floatOf(value);
    if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return value;
    if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return floatOf(Number(value));
    throw new JsonSchemaError(path, `expected a number (${field.type}), got ${kindOf(value)}`);
  }
  if (field.type === 'bool') {
    if (typeof value === 'boolean') return value;
    throw new JsonSchemaError(path, `expected true or false, got ${kindOf(value)}`);
  }
  if (field.type === 'string') {
    if (typeof value === 'string') return value;
    throw new JsonSchemaError(path, `expected a string, got ${kindOf(value)}`);
  }
  if (field.type === 'bytes') {
    if (typeof value === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return Buffer.from(value, 'base64').toString('base64');
    throw new JsonSchemaError(path, `expected base64 bytes, got ${kindOf(value)}`);
  }
  throw new JsonSchemaError(path, `field type ${field.type} is not known`);
}
