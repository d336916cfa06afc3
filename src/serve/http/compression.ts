/**
 * HTTP compression of request and response bodies, as Triton's HTTP clients use it: a request body sent with
 * `Content-Encoding: gzip` or `deflate`, and a response compressed the same way when the request's
 * `Accept-Encoding` asks for it (the clients' `response_compression_algorithm`).
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';

export type Encoding = 'gzip' | 'deflate';

/** Responses shorter than this are sent as they are: compressing them would cost more than it saves. */
export const MIN_COMPRESSED_BYTES = 1024;

const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);
const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

/**
 * The encoding to compress a response with, from a request's `Accept-Encoding`: gzip or deflate, whichever it
 * weighs higher (gzip on a tie, and for `*`); none when it names neither or weighs them `q=0`.
 */
export function acceptedEncoding(header: string | undefined): Encoding | undefined {
  if (header === undefined) return undefined;
  const weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (name === undefined || name === '') continue;
    const q = params.find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name, Number.isFinite(weight) ? weight : 0);
  }
  const any = weights.get('*');
  const weightOf = (name: Encoding): number => weights.get(name) ?? any ?? 0;
  const [gzipWeight, deflateWeight] = [weightOf('gzip'), weightOf('deflate')];
  if (gzipWeight <= 0 && deflateWeight <= 0) return undefined;
  return gzipWeight >= deflateWeight ? 'gzip' : 'deflate';
}

/** `parts` joined and compressed (on libuv's thread pool, not this thread). */
export function compress(parts: Uint8Array[], encoding: Encoding): Promise<Buffer> {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return (encoding === 'gzip' ? gzip : deflate)(body);
}

/** A request body decompressed, at most `maxOutputLength` bytes (past it: ERR_BUFFER_TOO_LARGE). */
export function decompress(body: Buffer, encoding: Encoding, maxOutputLength: number): Promise<Buffer> {
  return (encoding === 'gzip' ? gunzip : inflate)(body, { maxOutputLength });
}
