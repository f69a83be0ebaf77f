// The controller's own ServiceAccount token, one per audience: requested with TokenRequest, reused by
// every Secret until most of its lifetime is gone, and fetched at most once at a time (single-flight,
// token/renewing-cache.ts).
import type { Clock } from '../clock.ts';
import { RegcredError } from '../errors.ts';
import { createRenewingCache, type Renewed } from './renewing-cache.ts';

/** What the apiserver granted: the token and its real expiry (it may shorten the requested lifetime). */
export interface IssuedServiceAccountToken {
  token: string;
  expiresAt: Date;
}

export type RequestServiceAccountToken = (request: {
  audience: string;
  expirationSeconds: number;
}) => Promise<IssuedServiceAccountToken>;

export interface ServiceAccountTokenSourceOptions {
  request: RequestServiceAccountToken;
  clock: Clock;
  /** Requested lifetime. TokenRequest refuses less than 600; default 3600. */
  expirationSeconds?: number;
  /** Share of the lifetime after which a new token is requested; default 0.8. */
  reuseFraction?: number;
  /** Called once per TokenRequest with its outcome (metrics). */
  onRequest?: (result: 'success' | 'error') => void;
}

export interface ServiceAccountTokenSource {
  /** A token for `audience` with at least (1 - reuseFraction) of its life left. */
  get(audience: string): Promise<string>;
  /** Forget the token for `audience` (e.g. after the exchange refused it), so the next get asks anew. */
  invalidate(audience: string): void;
}

export const MIN_EXPIRATION_SECONDS = 600;

/** A token closer than this to its expiry is not handed out after a failed renewal. */
const STILL_USABLE_MARGIN_MS = 60_000;

export function createServiceAccountTokenSource(options: ServiceAccountTokenSourceOptions): ServiceAccountTokenSource {
  const expirationSeconds = options.expirationSeconds ?? 3600;
  const reuseFraction = options.reuseFraction ?? 0.8;
  if (!Number.isInteger(expirationSeconds) || expirationSeconds < MIN_EXPIRATION_SECONDS) {
    throw new RegcredError('ConfigInvalid', `token expiration must be a whole number of seconds >= ${MIN_EXPIRATION_SECONDS}`);
  }
  if (!(reuseFraction > 0 && reuseFraction < 1)) {
    throw new RegcredError('ConfigInvalid', 'token reuse fraction must be between 0 and 1');
  }
  // A TokenRequest hiccup must not stop exchanges while the previous token is still good.
  const cache = createRenewingCache<string>({ clock: options.clock, keepOnErrorMarginMs: STILL_USABLE_MARGIN_MS });

  const fetchToken = async (audience: string): Promise<Renewed<string>> => {
    const requestedAtMs = options.clock.now().getTime();
    let issued: IssuedServiceAccountToken;
    try {
      issued = await options.request({ audience, expirationSeconds });
    } catch (err) {
      options.onRequest?.('error');
      throw err;
    }
    options.onRequest?.('success');
    // Lifetime counted from when we asked: conservative if the apiserver was slow to answer.
    const lifetimeMs = Math.max(0, issued.expiresAt.getTime() - requestedAtMs);
    return { value: issued.token, expiresAt: issued.expiresAt, renewAt: new Date(requestedAtMs + lifetimeMs * reuseFraction) };
  };

  return {
    get: (audience) => cache.get(audience, () => fetchToken(audience)),
    invalidate: (audience) => cache.forget(audience),
  };
}
