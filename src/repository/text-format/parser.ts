/**
 * The Protocol Buffers text format, parsed from a message's schema (protobufjs reflection) the way protobuf's
 * TextFormat::Parser reads it: `name: value` for scalars and enums (by name or number), `name { ... }`,
 * `name < ... >` or `name: { ... }` for messages, repeated fields as repeated entries or `name: [a, b]`, map
 * fields as entries `{ key: ... value: ... }`, an optional `;` or `,` after each field, `#` comments, adjacent
 * strings joined. A singular field given twice, two members of one oneof, an unknown field or enum name, a value
 * of the wrong kind or out of range is an error naming the line and column and what was expected.
 *
 * The result is the message in proto3 JSON form with proto field names (64-bit integers as strings).
 */
import protobuf from 'protobufjs';
import { base64Of, enumOf, floatOf, integerOf, isDefault, isFloatType, isIntegerType } from './scalars.js';
import { TextFormatError, tokenize, type Token } from './tokenizer.js';

export type JsonObject = Record<string, unknown>;

/** Sets a map entry whatever its key (`__proto__` included, which plain assignment would take as the prototype). */
export function setKey(object: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

const describeToken = (token: Token): string => (token.kind === 'end' ? 'the end of the text' : `'${token.text}'`);

export function parseTextFormat(text: string, type: protobuf.Type): JsonObject {
  const tokens = tokenize(text);
  let at = 0;
  const peek = (): Token => tokens[at]!;
  const next = (): Token => tokens[at++]!;
  const fail = (token: Token, detail: string): never => {
    throw new TextFormatError(token.line, token.column, detail);
  };
  const trySymbol = (symbol: string): boolean => {
    if (peek().kind === 'symbol' && peek().text === symbol) {
      at++;
      return true;
    }
    return false;
  };
  const expectSymbol = (symbol: string, what: string): void => {
    if (!trySymbol(symbol)) fail(peek(), `expected '${symbol}' ${what}, got ${describeToken(peek())}`);
  };

  const result = parseFields(type, undefined);
  return result;

  /** Fields up to `close` ('}' or '>'), or to the end of the text for the top message. */
  function parseFields(messageType: protobuf.Type, open: { close: string; token: Token } | undefined): JsonObject {
    const message: JsonObject = {};
    const oneofSet = new Map<string, string>();
    const typeName = messageType.fullName.replace(/^\./, '');
    for (;;) {
      const token = peek();
      if (open !== undefined && trySymbol(open.close)) return message;
      if (token.kind === 'end') {
        if (open === undefined) return message;
        fail(token, `expected '${open.close}' to close the ${typeName} opened at ${open.token.line}:${open.token.column}, got the end of the text`);
      }
      if (token.kind === 'symbol' && token.text === '[') fail(token, `extensions and Any fields ('[...]') are not part of ${typeName}`);
      if (token.kind !== 'identifier') fail(token, `expected a field name of ${typeName}, got ${describeToken(token)}`);
      next();
      const field = Object.hasOwn(messageType.fields, token.text) ? messageType.fields[token.text] : undefined;
      if (field === undefined) fail(token, `message type "${typeName}" has no field named "${token.text}"`);
      parseField(messageType, field!, token, message, oneofSet);
      if (!trySymbol(';')) trySymbol(',');
    }
  }

  function parseField(messageType: protobuf.Type, field: protobuf.Field, nameToken: Token, message: JsonObject, oneofSet: Map<string, string>): void {
    const isMap = field instanceof protobuf.MapField;
    const isMessage = isMap || field.resolvedType instanceof protobuf.Type;
    if (isMessage) trySymbol(':');
    else expectSymbol(':', `after field "${field.name}"`);

    const oneof = field.partOf;
    if (oneof !== null && oneof !== undefined) {
      const other = oneofSet.get(oneof.name);
      if (other !== undefined && other !== field.name) {
        fail(nameToken, `field "${field.name}" is specified along with field "${other}", another member of oneof "${oneof.name}" of ${messageType.fullName.replace(/^\./, '')}`);
      }
      oneofSet.set(oneof.name, field.name);
    }

    const readOne = (): unknown => (isMap ? parseMapEntry(field as protobuf.MapField) : isMessage ? parseMessageValue(field.resolvedType as protobuf.Type) : parseScalar(field));
    const values: unknown[] = [];
    if ((field.repeated || isMap) && trySymbol('[')) {
      if (!trySymbol(']')) {
        for (;;) {
          values.push(readOne());
          if (trySymbol(']')) break;
          expectSymbol(',', `or ']' in the list of "${field.name}"`);
        }
      }
    } else {
      values.push(readOne());
    }

    if (isMap) {
      const map = (message[field.name] ??= {}) as JsonObject;
      for (const [key, value] of values as Array<[string, unknown]>) setKey(map, key, value);
    } else if (field.repeated) {
      ((message[field.name] ??= []) as unknown[]).push(...values);
    } else {
      const seen = field.name in message;
      if (seen && (isMessage || field.hasPresence || !isDefault(field, message[field.name]))) {
        fail(nameToken, `non-repeated field "${field.name}" is specified multiple times`);
      }
      message[field.name] = values[0];
    }
  }

  function parseMessageValue(messageType: protobuf.Type): JsonObject {
    const token = peek();
    if (trySymbol('{')) return parseFields(messageType, { close: '}', token });
    if (trySymbol('<')) return parseFields(messageType, { close: '>', token });
    return fail(token, `expected '{' or '<' to open a ${messageType.fullName.replace(/^\./, '')}, got ${describeToken(token)}`);
  }

  /** A map entry `{ key: K value: V }`: its key as a JSON object key, and its value. */
  function parseMapEntry(field: protobuf.MapField): [string, unknown] {
    const token = peek();
    const close = trySymbol('{') ? '}' : trySymbol('<') ? '>' : fail(token, `expected '{' or '<' to open an entry of map "${field.name}", got ${describeToken(token)}`);
    const keyField = new protobuf.Field('key', 1, field.keyType);
    const valueField = new protobuf.Field('value', 2, field.type);
    valueField.resolvedType = field.resolvedType;
    let key: unknown;
    let value: unknown;
    for (;;) {
      if (trySymbol(close)) break;
      const name = peek();
      if (name.kind === 'end') fail(name, `expected '${close}' to close the entry of map "${field.name}" opened at ${token.line}:${token.column}, got the end of the text`);
      if (name.kind !== 'identifier' || (name.text !== 'key' && name.text !== 'value')) fail(name, `expected "key" or "value" in an entry of map "${field.name}", got ${describeToken(name)}`);
      next();
      const entryField = name.text === 'key' ? keyField : valueField;
      if ((name.text === 'key' ? key : value) !== undefined) fail(name, `non-repeated field "${name.text}" is specified multiple times`);
      const isMessage = entryField.resolvedType instanceof protobuf.Type;
      if (isMessage) trySymbol(':');
      else expectSymbol(':', `after field "${name.text}"`);
      const parsed = isMessage ? parseMessageValue(entryField.resolvedType as protobuf.Type) : parseScalar(entryField);
      if (name.text === 'key') key = parsed;
      else value = parsed;
      if (!trySymbol(';')) trySymbol(',');
    }
    const keyText = key === undefined ? (field.keyType === 'string' ? '' : field.keyType === 'bool' ? 'false' : '0') : String(key);
    const defaultValue = field.resolvedType instanceof protobuf.Type ? {} : field.resolvedType instanceof protobuf.Enum ? (field.resolvedType.valuesById[0] ?? 0) : valueField.type === 'string' || valueField.type === 'bytes' ? '' : valueField.type === 'bool' ? false : 0;
    return [keyText, value ?? defaultValue];
  }

  function parseScalar(field: protobuf.Field): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) return parseEnum(field, resolved);
    if (isIntegerType(field.type)) return parseInteger(field);
    if (isFloatType(field.type)) return parseFloatValue(field);
    if (field.type === 'bool') return parseBool(field);
    if (field.type === 'string' || field.type === 'bytes') {
      const first = peek();
      if (first.kind !== 'string') fail(first, `expected a quoted string for field "${field.name}", got ${describeToken(first)}`);
      const parts: Uint8Array[] = [];
      while (peek().kind === 'string') parts.push(next().bytes!);
      const bytes = Buffer.concat(parts);
      if (field.type === 'bytes') return base64Of(bytes);
      try {
        return utf8.decode(bytes);
      } catch {
        return fail(first, `string field "${field.name}" holds bytes that are not valid UTF-8`);
      }
    }
    return fail(peek(), `field "${field.name}" has type ${field.type}, which this parser does not know`);
  }

  function signedInteger(field: protobuf.Field): { value: bigint; token: Token } {
    const start = peek();
    const negative = trySymbol('-');
    const token = next();
    if (token.kind !== 'integer') fail(token, `expected an integer for field "${field.name}" (${field.type}), got ${describeToken(token)}`);
    const text = token.text;
    const magnitude = /^0[xX]/.test(text) ? BigInt(text) : /^0[0-7]+$/.test(text) ? BigInt(`0o${text.slice(1)}`) : BigInt(text);
    return { value: negative ? -magnitude : magnitude, token: start };
  }

  function parseInteger(field: protobuf.Field): unknown {
    const sign = peek();
    if (field.type.startsWith('uint') || field.type.startsWith('fixed')) {
      if (sign.kind === 'symbol' && sign.text === '-') fail(sign, `field "${field.name}" is unsigned (${field.type}): a negative number is not allowed`);
    }
    const { value, token } = signedInteger(field);
    const result = integerOf(field.type, value);
    return 'problem' in result ? fail(token, `field "${field.name}": ${result.problem}`) : result.value;
  }

  function parseFloatValue(field: protobuf.Field): unknown {
    const negative = trySymbol('-');
    const token = next();
    let value: number;
    if (token.kind === 'float') value = Number(token.text.replace(/[fF]$/, ''));
    // protobuf reads an integer for a float field as a decimal number only (no hex, no leading zero).
    else if (token.kind === 'integer' && /^(0|[1-9]\d*)$/.test(token.text)) value = Number(token.text);
    else if (token.kind === 'integer') return fail(token, `expected a decimal number for field "${field.name}" (${field.type}), got '${token.text}'`);
    else if (token.kind === 'identifier' && /^(inf|infinity)$/i.test(token.text)) value = Infinity;
    else if (token.kind === 'identifier' && /^nan$/i.test(token.text)) value = NaN;
    else return fail(token, `expected a number for field "${field.name}" (${field.type}), got ${describeToken(token)}`);
    return floatOf(negative ? -value : value);
  }

  function parseBool(field: protobuf.Field): boolean {
    const token = peek();
    if (token.kind === 'identifier' && ['true', 'True', 't'].includes(token.text)) return next() !== undefined;
    if (token.kind === 'identifier' && ['false', 'False', 'f'].includes(token.text)) return next() === undefined;
    if (token.kind === 'integer') {
      // protobuf takes an unsigned integer of value 0 or 1, written in any base.
      const { value } = signedInteger(field);
      if (value === 0n || value === 1n) return value === 1n;
    }
    return fail(token, `expected true or false for field "${field.name}", got ${describeToken(token)}`);
  }

  function parseEnum(field: protobuf.Field, type: protobuf.Enum): unknown {
    const token = peek();
    if (token.kind === 'identifier') {
      next();
      const value = enumOf(type, token.text);
      if (value === undefined) fail(token, `unknown value "${token.text}" for enum field "${field.name}" (${type.fullName.replace(/^\./, '')}: ${Object.keys(type.values).join(', ')})`);
      return value;
    }
    if (token.kind === 'integer' || (token.kind === 'symbol' && token.text === '-')) {
      const { value } = signedInteger(field);
      const result = integerOf('int32', value);
      return 'problem' in result ? fail(token, `field "${field.name}": ${result.problem}`) : enumOf(type, result.value as number);
    }
    return fail(token, `expected an enum name or number for field "${field.name}" (${type.fullName.replace(/^\./, '')}), got ${describeToken(token)}`);
  }
}
