// The Chainguard STS protocol: POST {issuer}/sts/exchange?aud={registry}&identity={UID} with the
// ServiceAccount JWT as Bearer → 200 {"token": "<registry JWT>"}. One classifier for every answer.
import { RegcredError } from '../errors.ts';
import { systemClock, type Clock } from '../clock.ts';
import { readJwtTimes } from '../token/jwt-times.ts';
import { bodyExcerpt } from './redact.ts';
import type { Exchanger, ExchangeRequest, RegistryToken } from './exchanger.ts';

export interface ChainguardExchangerOptions {
  /** STS base URL, e.g. `https://issuer.enforce.dev`. */
  issuerUrl: string;
  /** Audience of the subject token the STS accepts, e.g. `issuer.enforce.dev`. */
  audience: string;
  /** Limit for one exchange, connection to last body byte. */
  timeoutMs: number;
  /** Injected for tests of odd transports; the global fetch otherwise. */
  fetch?: typeof globalThis.fetch;
  /** For Retry-After given as an HTTP date. */
  clock?: Clock;
}

/** Larger answers are not a token response; reading stops there. */
const MAX_BODY_BYTES = 256 * 1024;

export function createChainguardExchanger(options: ChainguardExchangerOptions): Exchanger {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? systemClock;
  const base = options.issuerUrl.replace(/\/+$/, '');

  async function exchange(request: ExchangeRequest, signal?: AbortSignal): Promise<RegistryToken> {
    signal?.throwIfAborted();
    const url = new URL(`${base}/sts/exchange`);
    url.searchParams.set('aud', request.registry);
    url.searchParams.set('identity', request.identity);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${request.subjectToken}`, accept: 'application/json' },
        body: '',
        // A redirect would carry the Bearer token to wherever it points; an STS has no reason to redirect.
        redirect: 'manual',
        signal: combined,
      });
      const body = await readBody(response);
      return classifyStsResponse(response.status, body, response.headers, clock.now());
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw classifyStsFailure(error, timeout.aborted);
    }
  }

  return { name: 'chainguard', audience: options.audience, exchange };
}

async function readBody(response: Response): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new RegcredError('StsBadResponse', `STS answer is larger than ${MAX_BODY_BYTES} bytes`, {
        status: response.status,
      });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A failure before any answer: our timeout, or the network. RegcredErrors from reading pass through. */
export function classifyStsFailure(error: unknown, timedOut: boolean): RegcredError {
  if (error instanceof RegcredError) return error;
  if (timedOut) return new RegcredError('StsTimeout', 'STS did not answer in time');
  // fetch's TypeError names no secret (its cause is a system error like ECONNREFUSED or ENOTFOUND).
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  return new RegcredError('StsUnreachable', `STS unreachable${code}`, { cause: error });
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; undefined if absent or odd. */
export function parseRetryAfterMs(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Every HTTP-date form starts with a day name; Date.parse alone would take "-5" for a year.
  const date = /^[A-Za-z]/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now.getTime());
}

/** The single classifier for an STS answer: a RegistryToken from a good 200, a coded RegcredError otherwise. */
export function classifyStsResponse(status: number, body: string, headers: Headers, now: Date): RegistryToken {
  if (status !== 200) throw statusError(status, body, headers, now);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new RegcredError('StsBadResponse', `STS answered 200 with non-JSON: ${bodyExcerpt(body)}`, { status });
  }
  const token = (parsed as { token?: unknown } | null)?.token;
  if (typeof token !== 'string' || token === '') {
    throw new RegcredError('StsBadResponse', `STS answered 200 without a string "token": ${bodyExcerpt(body)}`, {
      status,
    });
  }
  let times;
  try {
    times = readJwtTimes(token);
  } catch (error) {
    const reason = error instanceof RegcredError ? error.message : 'registry token is not a JWT';
    throw new RegcredError('RegistryTokenInvalid', `STS answered 200 but ${reason}`, { status });
  }
  return { token, ...times };
}

function statusError(status: number, body: string, headers: Headers, now: Date): RegcredError {
  const detail = `STS answered ${status}: ${bodyExcerpt(body)}`;
  if (status >= 500) return new RegcredError('StsServerError', detail, { status });
  if (status === 429) {
    const retryAfterMs = parseRetryAfterMs(headers.get('retry-after'), now);
    return new RegcredError('StsRateLimited', detail, retryAfterMs === undefined ? { status } : { status, retryAfterMs });
  }
  if (status === 401) return new RegcredError('StsUnauthorized', detail, { status });
  if (status === 403) return new RegcredError('StsForbidden', detail, { status });
  if (status >= 400) return new RegcredError('StsRejected', detail, { status });
  // 1xx/2xx other than 200, 3xx: not the protocol. A redirect means a wrong issuer URL: nothing a retry fixes.
  if (status >= 300) return new RegcredError('StsRejected', `STS answered ${status} (redirects are not followed)`, { status });
  return new RegcredError('StsBadResponse', detail, { status });
}
