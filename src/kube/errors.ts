// The one classifier for the Kubernetes API edge: KubeApiError and network failures → RegcredError.
// Only the status code, the Status `reason` (a fixed enum such as "Conflict") and Retry-After survive;
// the original error is never kept as a cause.
import { RegcredError, type ErrorCode } from '../errors.ts';
import { KubeApiError, KubeCredentialsError } from './api-errors.ts';

function codeForStatus(status: number): ErrorCode {
  if (status === 403) return 'KubeForbidden';
  if (status === 404) return 'KubeNotFound';
  if (status === 409) return 'KubeConflict';
  if (status === 400 || status === 422) return 'KubeInvalid';
  // 401: our own credentials were refused. In-cluster the projected token file rotates and KubeConfig
  // re-reads it every minute, so this is worth retrying with backoff rather than giving up.
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

/** The code, with what kind of failure it is when the code alone does not say (TLS, timeout). */
export function describeNetworkCode(code: string): string {
  if (code === 'TimeoutError') return 'timeout';
  if (/CERT|TLS|SSL|SIGNATURE|HANDSHAKE/.test(code)) return `TLS: ${code}`;
  return code;
}

/**
 * Turns whatever an API call threw into a RegcredError. `action` names the call for people,
 * e.g. `patch Secret ns/name`; it must not hold secret material.
 */
export function classifyKubeError(err: unknown, action: string): RegcredError {
  if (err instanceof RegcredError) return err;
  if (err instanceof KubeApiError) {
    return new RegcredError(codeForStatus(err.status), `${action}: ${err.message}`, {
      status: err.status,
      retryAfterMs: err.retryAfterMs,
    });
  }
  // Transient: a plugin or a rotated token file may well work on the next attempt.
  if (err instanceof KubeCredentialsError) return new RegcredError('KubeUnavailable', `${action}: ${err.message}`);
  const net = networkCode(err);
  return new RegcredError('KubeUnavailable', `${action}: API server unreachable${net ? ` (${describeNetworkCode(net)})` : ''}`);
}

/** True for the 409 that optimistic concurrency produces. */
export function isConflict(err: unknown): boolean {
  return err instanceof RegcredError && err.code === 'KubeConflict';
}
