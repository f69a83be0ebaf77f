// The errors of the Kubernetes API edge: a non-2xx answer keeps the status, the Status `reason` and
// Retry-After, and for 400/422 the causes without their quoted values (statusCauses), never any other
// byte of the body (it can echo what was sent).
import { statusCauses } from './status-causes.ts';

/** A non-2xx answer. The message holds only the method, the path, the status and the Status reason. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  readonly retryAfterMs: number | undefined;
  /** For 400/422: why, from the Status causes (statusCauses), free of values. */
  readonly detail: string | undefined;
  constructor(status: number, reason: string | undefined, retryAfterMs?: number, detail?: string) {
    super(`HTTP ${status}${reason ? ` ${reason}` : ''}${detail ? `: ${detail}` : ''}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
    this.detail = detail;
  }
}


/**
 * Our own credentials could not be produced (an exec plugin failed, a token file became unreadable).
 * kube-config.ts writes those messages without secret material, so this one can be shown.
 */
export class KubeCredentialsError extends Error {
  constructor(cause: unknown) {
    super(`credentials unavailable: ${cause instanceof Error ? cause.message : 'unknown error'}`);
    this.name = 'KubeCredentialsError';
  }
}

/** Status reasons are a closed set of CamelCase words; anything else is dropped rather than echoed. */
const STATUS_REASON = /^[A-Za-z]{1,40}$/;

export function statusReason(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'reason' in body) {
    const reason = (body as { reason?: unknown }).reason;
    if (typeof reason === 'string' && STATUS_REASON.test(reason)) return reason;
  }
  return undefined;
}

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw) * 1000;
}

/** The error for a non-2xx answer: `body` is read for its Status reason only. */
export function kubeApiError(status: number, retryAfter: string | string[] | undefined, body: string): KubeApiError {
  let reason: string | undefined;
  let detail: string | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    reason = statusReason(parsed);
    if (status === 400 || status === 422) detail = statusCauses(parsed);
  } catch {
    reason = undefined;
  }
  return new KubeApiError(status, reason, retryAfterMs(retryAfter), detail);
}

