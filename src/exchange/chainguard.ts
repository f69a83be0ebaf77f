// The Chainguard STS protocol: POST {issuer}/sts/exchange with the ServiceAccount JWT as Bearer and
// aud, identity (and cap, scopes) both in the query (what older servers and pull-secret-updater use)
// and as an application/x-www-form-urlencoded body (what chainguard-dev/sdk sends since 2026) → 200
// {"token", "expiry"?, "refresh_token"?}. One classifier for every answer; 502/503 retried once.
import { RegcredError } from '../errors.ts';
import { systemClock, systemRandom, type Clock, type Random } from '../clock.ts';
import { parseTokenResponse } from './chainguard-response.ts';
import { bodyExcerpt } from '../redact.ts';
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
  /**
   * Capabilities (`cap`, repeated) asked for per use of the token, e.g. `registry.pull` for pull secrets
   * and `registry.push` for push secrets. Default: none for either (the STS then grants what the
   * identity's role bindings give, as pull-secret-updater always did).
   */
  capabilities?: { pull?: readonly string[]; push?: readonly string[] };
  /** Group scopes (`scopes`, repeated) to restrict the token to; default none. */
  scopes?: readonly string[];
  /** Jitter of the one quick retry after a 502/503; Math.random otherwise. */
  random?: Random;
}

/** The quick retry after a 502/503 waits this long plus up to as much again (jitter), as the SDK does. */
export const RETRY_BASE_MS = 100;
const RETRIED_STATUSES = new Set([502, 503]);

/** Larger answers are not a token response; reading stops there. */
const MAX_BODY_BYTES = 256 * 1024;

export function createChainguardExchanger(options: ChainguardExchangerOptions): Exchanger {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const base = options.issuerUrl.replace(/\/+$/, '');

  /** One exchange; a 502/503 (a gateway between us and the STS, or the STS starting) gets one more try. */
  async function exchange(request: ExchangeRequest, signal?: AbortSignal): Promise<RegistryToken> {
    try {
      return await attempt(request, signal);
    } catch (error) {
      if (!(error instanceof RegcredError && error.code === 'StsServerError' && RETRIED_STATUSES.has(error.status ?? 0))) throw error;
      await sleep(RETRY_BASE_MS + Math.floor(random() * RETRY_BASE_MS), signal);
      return attempt(request, signal);
    }
  }

  async function attempt(request: ExchangeRequest, signal?: AbortSignal): Promise<RegistryToken> {
    signal?.throwIfAborted();
    const params = exchangeParams(request, options);
    const url = new URL(`${base}/sts/exchange?${params}`);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      const response = await fetchImpl(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${request.subjectToken}`,
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: params.toString(),
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

/**
 * The request fields, in the proto's names (oidc.platform.proto ExchangeRequest): `aud` (the registry),
 * `identity`, `cap` and `scopes` repeated. The deprecated single `scope` is not sent: `scopes` is its
 * successor and servers that know neither ignore both.
 */
export function exchangeParams(request: ExchangeRequest, options: Pick<ChainguardExchangerOptions, 'capabilities' | 'scopes'>): URLSearchParams {
  const params = new URLSearchParams();
  params.append('aud', request.registry);
  params.append('identity', request.identity);
  for (const cap of options.capabilities?.[request.access ?? 'pull'] ?? []) params.append('cap', cap);
  for (const scope of options.scopes ?? []) params.append('scopes', scope);
  return params;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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
  return parseTokenResponse(body, status);
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
