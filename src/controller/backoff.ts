// Retry delays for transient failures: exponential with full jitter, never past the moment the
// Secret's old token stops being useful.
import type { Random } from '../clock.ts';

export interface BackoffPolicy {
  /** First retry delay, and the floor of every delay. */
  baseMs: number;
  /** Ceiling of the exponential growth. */
  maxMs: number;
}

export const DEFAULT_BACKOFF_POLICY: BackoffPolicy = Object.freeze({ baseMs: 1_000, maxMs: 5 * 60_000 });

/**
 * The delay before retry number `attempt` (1 = first retry): uniform in [baseMs, min(maxMs, baseMs ×
 * 2^(attempt-1))]. "Full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter") because an
 * STS outage fails every Secret at the same instant: full jitter spreads their retries over the whole
 * window, and it needs only the attempt count the queue already keeps, where decorrelated jitter would
 * need each key's previous delay. The baseMs floor keeps an unlucky draw from retrying at once.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: Random): number {
  const exponent = Math.min(Math.max(Math.floor(attempt), 1) - 1, 52);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  if (ceiling <= policy.baseMs) return ceiling;
  return Math.round(policy.baseMs + random() * (ceiling - policy.baseMs));
}

/** A capped delay is never shorter than this: it bounds the retry rate in the last seconds of a token. */
export const MIN_CAPPED_DELAY_MS = 1_000;

/**
 * `delayMs`, shortened so the retry happens no later than `usefulUntil` (the old token's `exp`, or a
 * little before it): a long backoff must not sleep through the last chance to replace a token that is
 * still working. Once that moment has passed there is nothing left to protect, and the plain backoff applies.
 */
export function capDelay(delayMs: number, now: Date, usefulUntil?: Date): number {
  if (!usefulUntil) return delayMs;
  const remainingMs = usefulUntil.getTime() - now.getTime();
  if (remainingMs <= 0) return delayMs;
  return Math.min(delayMs, Math.max(remainingMs, MIN_CAPPED_DELAY_MS));
}

/**
 * How long before a token's `exp` the last retry is aimed: a retry landing at the very instant the token
 * dies would write a replacement only after Pods have already failed to pull.
 */
export const EXPIRY_SAFETY_MS = 3_000;

/** The `usefulUntil` for an old token expiring at `expiresAt`: a few seconds before it. */
export function lastUsefulInstant(expiresAt: Date): Date {
  return new Date(expiresAt.getTime() - EXPIRY_SAFETY_MS);
}

export interface RetryDelayInput {
  attempt: number;
  policy: BackoffPolicy;
  random: Random;
  now: Date;
  usefulUntil?: Date;
  /** The peer's Retry-After, honoured as a floor (before the usefulUntil cap). */
  retryAfterMs?: number;
}

/** The whole rule in one place: backoff, at least Retry-After, at most until the old token stops working. */
export function retryDelayMs(input: RetryDelayInput): number {
  const backoff = backoffDelayMs(input.attempt, input.policy, input.random);
  const delay = Math.max(backoff, input.retryAfterMs ?? 0);
  return capDelay(delay, input.now, input.usefulUntil);
}
