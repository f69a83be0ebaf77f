// How the token service answers: JSON that no cache keeps, and the one place that turns a RegcredError
// into a status, a Bearer challenge and a token-free body (Docker errcode and OAuth2 error fields).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RegcredError, ErrorCode } from '../errors.ts';

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

const SAFE_HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** The challenge realm: configured, or this server's /token on the Host the client used (if it looks like a host). */
export function realmFor(configured: string | undefined, req: IncomingMessage): string {
  if (configured) return configured;
  const host = req.headers.host ?? '';
  return SAFE_HOST.test(host) ? `http://${host}/token` : '/token';
}
