// The proxy's own answers, in the shapes registry clients understand: distribution-spec error bodies
// (`{"errors":[{"code","message","detail"}]}`) and Bearer challenges naming the token service.
import type { ServerResponse } from 'node:http';

/** distribution-spec error codes the proxy itself answers with. */
export type RegistryErrorCode = 'UNAUTHORIZED' | 'DENIED' | 'NAME_UNKNOWN' | 'UNSUPPORTED' | 'UNAVAILABLE' | 'UNKNOWN';

export interface ChallengeSettings {
  /** The token service's /token URL. */
  realm: string;
  service: string;
}

/**
 * `Bearer realm="…",service="…"[,scope="…"][,error="…"]`. Realm and service are validated at start
 * (no quotes); scopes come from the route grammar, which has none either.
 */
export function challenge(settings: ChallengeSettings, scope?: string, error?: 'invalid_token' | 'insufficient_scope'): string {
  let value = `Bearer realm="${settings.realm}",service="${settings.service}"`;
  if (scope) value += `,scope="${scope}"`;
  if (error) value += `,error="${error}"`;
  return value;
}

export function sendRegistryError(
  res: ServerResponse,
  status: number,
  code: RegistryErrorCode,
  message: string,
  options: { headers?: Record<string, string>; detail?: unknown } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ code, message, ...(options.detail !== undefined ? { detail: options.detail } : {}) }] });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0',
    ...options.headers,
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'docker-distribution-api-version': 'registry/2.0',
    ...headers,
  });
  res.end(text);
}
