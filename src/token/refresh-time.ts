// When a registry token is due for refresh: from its real lifetime, a fraction before `exp`, with a
// jitter that is a pure function of the token so every reader of the same token agrees on the instant.
import { tokenDigest } from './held-token.ts';

export interface RefreshSchedule {
  /** Refresh when this fraction of the token's lifetime remains (0 < f < 1). */
  remainingFraction: number;
  /** At least this long before `exp`, so a slow exchange or a short outage still ends before expiry. */
  minMarginMs: number;
  /** Move the instant earlier by up to this fraction of the lead time (0 ≤ j < 1) to spread refreshes. */
  jitterFraction: number;
}

export const DEFAULT_REFRESH_SCHEDULE: RefreshSchedule = Object.freeze({
  remainingFraction: 1 / 3,
  minMarginMs: 5 * 60_000,
  jitterFraction: 0.1,
});

/** The validity instants refreshAt needs (a JwtTimes or a RegistryToken both fit). */
export interface TokenTimes {
  expiresAt: Date;
  issuedAt?: Date;
  notBefore?: Date;
}

/**
 * The margin never takes more than half of a token's life. Without this cap a token living less than
 * `minMarginMs` would be due the moment it is issued: every exchange would return a token that is
 * already "expiring", and the controller would exchange again at once, forever.
 */
const MAX_MARGIN_FRACTION = 0.5;
/** Whatever the schedule, a token is used for at least this fraction of its life (same hot-loop reason). */
const MAX_LEAD_FRACTION = 0.9;

/** Throws a plain Error naming the bad field; config validation calls it at startup. */
export function validateRefreshSchedule(schedule: RefreshSchedule): RefreshSchedule {
  const { remainingFraction, minMarginMs, jitterFraction } = schedule;
  if (!(remainingFraction > 0 && remainingFraction < 1)) throw new Error('remainingFraction must be in (0, 1)');
  if (!(Number.isFinite(minMarginMs) && minMarginMs >= 0)) throw new Error('minMarginMs must be ≥ 0');
  if (!(jitterFraction >= 0 && jitterFraction < 1)) throw new Error('jitterFraction must be in [0, 1)');
  return schedule;
}

/**
 * A number in [0, 1) derived from SHA-256 of the token. Deterministic on purpose: the token in the
 * Secret and the same token in the exchange cache must get the same refresh instant, or the Secret could
 * be "due" while the cache calls the very same token "fresh" and hands it back forever. It also keeps the
 * schedule stable across restarts.
 */
export function tokenJitter(token: string): number {
  return digestJitter(tokenDigest(token));
}

/** tokenJitter() from the token's digest (held-token.ts): the first 6 bytes of its SHA-256. */
export function digestJitter(digest: string): number {
  return Buffer.from(digest, 'base64url').readUIntBE(0, 6) / 2 ** 48;
}

/**
 * The instant `token` should be replaced. Lead time before `exp` = max(lifetime × remainingFraction,
 * min(minMarginMs, lifetime / 2)), then up to jitterFraction × lead earlier; jitter never moves it later.
 * Lifetime runs from `iat` (else `nbf`); a token with neither has no known lifetime and refreshes
 * minMarginMs (plus jitter) before `exp`.
 */
export function refreshAt(token: string, times: TokenTimes, schedule: RefreshSchedule): Date {
  return refreshAtDigest(tokenDigest(token), times, schedule);
}

/** refreshAt() of the token whose tokenDigest() is `digest`: what a reader that keeps only the digest calls. */
export function refreshAtDigest(digest: string, times: TokenTimes, schedule: RefreshSchedule): Date {
  const expMs = times.expiresAt.getTime();
  const start = times.issuedAt ?? times.notBefore;
  const lifetimeMs = start ? Math.max(0, expMs - start.getTime()) : undefined;

  let leadMs: number;
  if (lifetimeMs === undefined) {
    leadMs = schedule.minMarginMs;
  } else {
    const fractionLeadMs = lifetimeMs * schedule.remainingFraction;
    const marginMs = Math.min(schedule.minMarginMs, lifetimeMs * MAX_MARGIN_FRACTION);
    leadMs = Math.max(fractionLeadMs, marginMs);
  }
  leadMs += leadMs * schedule.jitterFraction * digestJitter(digest);
  if (lifetimeMs !== undefined) leadMs = Math.min(leadMs, lifetimeMs * MAX_LEAD_FRACTION);
  return new Date(Math.floor(expMs - leadMs));
}
