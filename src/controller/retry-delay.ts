// Retry delays for a Secret's transient failures: the shared backoff (src/backoff.ts), at least the
// peer's Retry-After, never past the moment the Secret's old token stops being useful.
import { backoffDelayMs, type RetrySchedule } from '../backoff.ts';
import type { Random } from '../clock.ts';

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
  schedule: RetrySchedule;
  random: Random;
  now: Date;
  usefulUntil?: Date;
  /** The peer's Retry-After, honoured as a floor (before the usefulUntil cap). */
  retryAfterMs?: number;
}

/** The whole rule in one place: backoff, at least Retry-After, at most until the old token stops working. */
export function retryDelayMs(input: RetryDelayInput): number {
  const backoff = backoffDelayMs(input.attempt, input.schedule, input.random);
  const delay = Math.max(backoff, input.retryAfterMs ?? 0);
  return capDelay(delay, input.now, input.usefulUntil);
}
