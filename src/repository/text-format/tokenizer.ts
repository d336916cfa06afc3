/**
 * The tokens of the Protocol Buffers text format, as protobuf's own tokenizer (io::Tokenizer) cuts them:
 * identifiers, numbers, quoted strings (escapes decoded to bytes), single-character symbols; `#` comments and
 * white space are skipped. Every token knows its line and column (1-based) for error messages.
 */

export type TokenKind = 'identifier' | 'integer' | 'float' | 'string' | 'symbol' | 'end';

export interface Token {
  kind: TokenKind;
  /** The token as written (for a string: with its quotes). */
  text: string;
  /** A string token's bytes, escapes decoded. */
  bytes?: Uint8Array;
  line: number;
  column: number;
}

/** A syntax error at a place in the text; the parser adds the file name. */
export class TextFormatError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`${line}:${column}: ${detail}`);
  }
}

const isLetter = (c: string): boolean => /[A-Za-z_]/.test(c);
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isHex = (c: string): boolean => /[0-9A-Fa-f]/.test(c);

const simpleEscapes: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };

function utf8Of(codePoint: number): number[] {
  return [...new TextEncoder().encode(String.fromCodePoint(codePoint))];
}

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const column = (at: number): number => at - lineStart + 1;
  const fail = (at: number, detail: string): never => {
    throw new TextFormatError(line, column(at), detail);
  };

  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    const start = i;
    if (isLetter(c)) {
      while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      tokens.push({ kind: 'identifier', text: text.slice(start, i), line, column: column(start) });
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(text[i + 1] ?? ''))) {
      tokens.push(readNumber());
      continue;
    }
    if (c === '"' || c === "'") {
      tokens.push(readString(c));
      continue;
    }
    if (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) >= 0x7f) fail(start, `unexpected character ${JSON.stringify(c)}`);
    tokens.push({ kind: 'symbol', text: c, line, column: column(start) });
    i++;
  }
  tokens.push({ kind: 'end', text: '', line, column: column(i) });
  return tokens;

  function readNumber(): Token {
    const start = i;
    let kind: TokenKind = 'integer';
    if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X')) {
      i += 2;
      if (!isHex(text[i] ?? '')) fail(start, '"0x" must be followed by hex digits');
      while (isHex(text[i] ?? '')) i++;
    } else if (text[i] === '0' && isDigit(text[i + 1] ?? '')) {
      while (isDigit(text[i] ?? '')) {
        if (text[i]! > '7') fail(start, 'numbers starting with leading zero must be in octal');
        i++;
      }
    } else {
      while (isDigit(text[i] ?? '')) i++;
      if (text[i] === '.') {
        kind = 'float';
        i++;
        while (isDigit(text[i] ?? '')) i++;
      }
      if (text[i] === 'e' || text[i] === 'E') {
        kind = 'float';
        i++;
        if (text[i] === '-' || text[i] === '+') i++;
        if (!isDigit(text[i] ?? '')) fail(start, '"e" must be followed by exponent');
        while (isDigit(text[i] ?? '')) i++;
      }
      if (text[i] === 'f' || text[i] === 'F') {
        kind = 'float';
        i++;
      }
    }
    if (isLetter(text[i] ?? '') || isDigit(text[i] ?? '')) fail(start, `need space between number and identifier (at ${JSON.stringify(text.slice(start, i + 1))})`);
    return { kind, text: text.slice(start, i), line, column: column(start) };
  }

  function readString(quote: string): Token {
    const start = i;
    const startLine = line;
    const bytes: number[] = [];
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined || c === '\n') fail(start, 'string literal is not closed on its line');
      if (c === quote) {
        i++;
        break;
      }
      if (c !== '\\') {
        const codePoint = text.codePointAt(i)!;
        bytes.push(...utf8Of(codePoint));
        i += codePoint > 0xffff ? 2 : 1;
        continue;
      }
      const e = text[i + 1] ?? '';
      if (e in simpleEscapes) {
        bytes.push(simpleEscapes[e]!);
        i += 2;
      } else if (e >= '0' && e <= '7') {
        let j = i + 1;
        let value = 0;
        while (j < i + 4 && text[j]! >= '0' && text[j]! <= '7') value = value * 8 + Number(text[j++]);
        if (value > 255) fail(i, `octal escape \\${text.slice(i + 1, j)} is more than a byte`);
        bytes.push(value);
        i = j;
      } else if (e === 'x' || e === 'X') {
        let j = i + 2;
        while (j < i + 4 && isHex(text[j] ?? '')) j++;
        if (j === i + 2) fail(i, 'expected hex digits for escape sequence');
        bytes.push(parseInt(text.slice(i + 2, j), 16));
        i = j;
      } else if (e === 'u' || e === 'U') {
        const width = e === 'u' ? 4 : 8;
        const digits = text.slice(i + 2, i + 2 + width);
        if (digits.length !== width || ![...digits].every(isHex)) fail(i, `expected ${width} hex digits after \\${e}`);
        let codePoint = parseInt(digits, 16);
        if (codePoint > 0x10ffff) fail(i, `\\${e}${digits} is not a Unicode code point`);
        i += 2 + width;
        const trail = /^\\u([dD][c-fC-F][0-9a-fA-F]{2})/.exec(text.slice(i, i + 6));
        if (codePoint >= 0xd800 && codePoint <= 0xdbff && trail !== null) {
          // A surrogate pair written as two escapes is one code point, as protobuf joins them.
          codePoint = 0x10000 + ((codePoint - 0xd800) << 10) + (parseInt(trail[1]!, 16) - 0xdc00);
          i += 6;
        }
        if (codePoint >= 0xd800 && codePoint <= 0xdfff) {
          // A lone surrogate: protobuf writes its three bytes, which are not valid UTF-8.
          bytes.push(0xe0 | (codePoint >> 12), 0x80 | ((codePoint >> 6) & 0x3f), 0x80 | (codePoint & 0x3f));
        } else {
          bytes.push(...utf8Of(codePoint));
        }
      } else {
        fail(i, `invalid escape sequence in string literal: \\${e}`);
      }
    }
    return { kind: 'string', text: text.slice(start, i), bytes: Uint8Array.from(bytes), line: startLine, column: start - lineStart + 1 };
  }
}
