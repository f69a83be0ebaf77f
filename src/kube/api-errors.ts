// The errors of the Kubernetes API edge: a non-2xx answer keeps the status, the Status `reason` and
// Retry-After, and for 400/422 the causes without their quoted values (statusCauses), never any other
// byte of the body (it can echo what was sent). The Status may be JSON or protobuf, as the answer says.
import type { IncomingMessage } from 'node:http';
import { PROTOBUF, ProtobufSyntaxError, readStatusAnswer } from './secret-protobuf.ts';
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  return kubeApiErrorOf(status, retryAfter, parsed);
}

/** The error for a non-2xx answer whose Status is already decoded (JSON or protobuf); undefined: none. */
export function kubeApiErrorOf(status: number, retryAfter: string | string[] | undefined, parsed: unknown): KubeApiError {
  const reason = statusReason(parsed);
  const detail = parsed !== undefined && (status === 400 || status === 422) ? statusCauses(parsed) : undefined;
  return new KubeApiError(status, reason, retryAfterMs(retryAfter), detail);
}

/** Whether an answer is protobuf (its Content-Type, without parameters). */
export function isProtobuf(res: IncomingMessage): boolean {
  return (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF;
}

/** A non-2xx answer's error, from its Status in JSON or protobuf. */
export function errorFromResponse(res: IncomingMessage, body: Buffer): KubeApiError {
  const status = res.statusCode ?? 0;
  if (!isProtobuf(res)) return kubeApiError(status, res.headers['retry-after'], body.toString('utf8'));
  let parsed: unknown;
  try {
    parsed = readStatusAnswer(body);
  } catch (err) {
    if (!(err instanceof ProtobufSyntaxError)) throw err;
  }
  return kubeApiErrorOf(status, res.headers['retry-after'], parsed);
}
