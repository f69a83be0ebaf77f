// Small HTTP helpers for the token service: bounded body reading, JSON answers, and the one place
// that turns a RegcredError into a status, a challenge and a token-free body.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegcredError, type ErrorCode } from '../errors.ts';

/** The OAuth2 form is a few KB at most (a JWT password and a handful of scopes). */
export const MAX_BODY_BYTES = 16_384;

const DEFAULT_STATUS: Partial<Record<ErrorCode, number>> = {
  CredentialMissing: 401,
  CredentialInvalid: 401,
  IssuerUnknown: 401,
  AudienceInvalid: 401,
  IdentityUnknown: 403,
  IdentityMismatch: 403,
  ScopeInvalid: 400,
  RequestInvalid: 400,
  JwksUnavailable: 503,
};

/** Docker distribution errcode values, which docker/containerd print from `errors[].code`. */
function errcodeFor(status: number): string {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 503) return 'UNAVAILABLE';
  if (status >= 400 && status < 500) return 'UNSUPPORTED';
  return 'UNKNOWN';
}

function oauthErrorFor(error: RegcredError, status: number): string {
  if (error.code === 'ScopeInvalid') return 'invalid_scope';
  if (status === 400 || status === 413) return 'invalid_request';
  if (status === 401 || status === 403) return 'invalid_grant';
  return 'server_error';
}

export function statusOf(error: RegcredError): number {
  return error.status ?? DEFAULT_STATUS[error.code] ?? 500;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    // Tokens must not linger in shared caches.
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...headers,
  });
  res.end(text);
}

export interface Challenge {
  realm: string;
  service: string;
}

/** Answers a refusal. The message is already token-free (RegcredError contract); internals are not shown. */
export function sendError(res: ServerResponse, error: RegcredError, challenge: Challenge | undefined): void {
  const status = statusOf(error);
  const message = status >= 500 && error.code === 'Internal' ? 'internal error' : error.message;
  const headers: Record<string, string> = {};
  if (status === 401 && challenge) headers['www-authenticate'] = `Bearer realm="${challenge.realm}",service="${challenge.service}"`;
  if (status === 503) headers['retry-after'] = '5';
  sendJson(
    res,
    status,
    {
      errors: [{ code: errcodeFor(status), message, detail: error.code }],
      error: oauthErrorFor(error, status),
      error_description: message,
    },
    headers,
  );
}

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

const SAFE_HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** The challenge realm: configured, or this server's /token on the Host the client used (if it looks like a host). */
export function realmFor(configured: string | undefined, req: IncomingMessage): string {
  if (configured) return configured;
  const host = req.headers.host ?? '';
  return SAFE_HOST.test(host) ? `http://${host}/token` : '/token';
}
