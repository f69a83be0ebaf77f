// Reads a request body of the token service, bounded: a client cannot make the server buffer more
// than a small form.
import type { IncomingMessage } from 'node:http';
import { RegcredError } from '../errors.ts';

/** The OAuth2 form is a few KB at most (a JWT password and a handful of scopes). */
export const MAX_BODY_BYTES = 16_384;

/** Reads the whole body up to `maxBytes`; over that, RequestInvalid with status 413 (the rest is discarded, not buffered). */
export function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      reject(new RegcredError('RequestInvalid', 'request body too large', { status: 413 }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        reject(new RegcredError('RequestInvalid', 'request body too large', { status: 413 }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!failed) reject(new RegcredError('RequestInvalid', 'request body unreadable', { status: 400, cause: err }));
    });
  });
}
