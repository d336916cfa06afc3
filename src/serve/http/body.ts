/** Reading a request's body: refused past a size, and decompressed when sent with gzip or deflate. */
import type http from 'node:http';
import { messageOf } from '../../errors.js';
import { invalidRequest } from '../core/errors.js';
import { decompress } from './compression.js';
import { HttpError } from './errors.js';

/** The request's body, refused with 413 past `max` bytes (declared or read) and decompressed when gzip or deflate. */
export async function readBody(request: http.IncomingMessage, max: number): Promise<Buffer> {
  const tooLarge = (): HttpError => new HttpError(413, `the request body is over ${max} bytes; send less (or raise --max-body-bytes)`, { connection: 'close' });
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) throw tooLarge();
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > max) {
        request.off('data', onData);
        reject(tooLarge());
      } else chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    request.once('error', reject);
    request.once('close', () => request.complete || reject(new Error('the client disconnected before sending the whole body')));
  });
  const encoding = request.headers['content-encoding'];
  if (encoding === undefined || encoding === 'identity') return body;
  if (encoding !== 'gzip' && encoding !== 'deflate') throw new HttpError(415, `Content-Encoding '${encoding}' is not supported; send the body as is, gzip or deflate`);
  try {
    return await decompress(body, encoding, max);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw invalidRequest(`the body does not decompress as ${encoding}: ${messageOf(error)}`);
  }
}
