// The one classifier for the Kubernetes API edge: ApiException and network failures → RegcredError.
// client-node's ApiException.message embeds response bodies and headers, so it is never copied, logged or
// kept as a cause: only the status code and the Status `reason` (a fixed enum such as "Conflict") survive.
import { ApiException } from '@kubernetes/client-node';
import { RegcredError, type ErrorCode } from '../errors.ts';

/** Status reasons are a closed set of CamelCase words; anything else is dropped rather than echoed. */
const STATUS_REASON = /^[A-Za-z]{1,40}$/;

function statusReason(body: unknown): string | undefined {
  if (typeof body === 'string') {
    try {
      return statusReason(JSON.parse(body));
    } catch {
      return undefined;
    }
  }
  if (body && typeof body === 'object' && 'reason' in body) {
    const reason = (body as { reason?: unknown }).reason;
    if (typeof reason === 'string' && STATUS_REASON.test(reason)) return reason;
  }
  return undefined;
}

function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  const raw = headers?.['retry-after'];
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw) * 1000;
}

function codeForStatus(status: number): ErrorCode {
  if (status === 403) return 'KubeForbidden';
  if (status === 404) return 'KubeNotFound';
  if (status === 409) return 'KubeConflict';
  if (status === 400 || status === 422) return 'KubeInvalid';
  // 401: our own credentials were refused. In-cluster the projected token file rotates and client-node
  // re-reads it, so this is worth retrying with backoff rather than giving up on the Secret.
  // 408/410/429/5xx and anything unexpected: the apiserver may answer differently later.
  return 'KubeUnavailable';
}

/** Network-level error codes worth naming in a message (they never hold secret material). */
function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 4 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z_]{3,40}$/.test(code)) return code;
    const name = (current as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return name;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns whatever a client-node call threw into a RegcredError. `action` names the call for people,
 * e.g. `patch Secret ns/name`; it must not hold secret material.
 */
export function classifyKubeError(err: unknown, action: string): RegcredError {
  if (err instanceof RegcredError) return err;
  if (err instanceof ApiException) {
    const status = typeof err.code === 'number' ? err.code : 0;
    const reason = statusReason(err.body);
    const code = codeForStatus(status);
    return new RegcredError(code, `${action}: HTTP ${status}${reason ? ` ${reason}` : ''}`, {
      status,
      retryAfterMs: retryAfterMs(err.headers),
    });
  }
  // The watch client throws plain Errors with statusCode for non-200 answers.
  const statusCode = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number') {
    return new RegcredError(codeForStatus(statusCode), `${action}: HTTP ${statusCode}`, { status: statusCode });
  }
  const net = networkCode(err);
  return new RegcredError('KubeUnavailable', `${action}: API server unreachable${net ? ` (${net})` : ''}`);
}

/** True for the 409 that optimistic concurrency produces. */
export function isConflict(err: unknown): boolean {
  return err instanceof RegcredError && err.code === 'KubeConflict';
}
