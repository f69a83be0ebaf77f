// The one retry backoff of the project: exponential growth with full jitter. The controller's per-Secret
// retries (controller/retry-delay.ts) and the list-watch restarts (kube/list-watch.ts) both use it.
import type { Random } from './clock.ts';

export interface RetrySchedule {
  /** First retry delay, and the floor of every delay. */
  baseMs: number;
  /** Ceiling of the exponential growth. */
  maxMs: number;
}

export const DEFAULT_RETRY_SCHEDULE: RetrySchedule = Object.freeze({ baseMs: 1_000, maxMs: 5 * 60_000 });

/**
 * The delay before retry number `attempt` (1 = first retry): uniform in [baseMs, min(maxMs, baseMs ×
 * 2^(attempt-1))]. "Full jitter" (AWS Architecture Blog, "Exponential Backoff and Jitter") because an
 * STS outage fails every Secret at the same instant: full jitter spreads their retries over the whole
 * window, and it needs only the attempt count the queue already keeps, where decorrelated jitter would
 * need each key's previous delay. The baseMs floor keeps an unlucky draw from retrying at once.
 */
export function backoffDelayMs(attempt: number, schedule: RetrySchedule, random: Random): number {
  const exponent = Math.min(Math.max(Math.floor(attempt), 1) - 1, 52);
  const ceiling = Math.min(schedule.maxMs, schedule.baseMs * 2 ** exponent);
  if (ceiling <= schedule.baseMs) return ceiling;
  return Math.round(schedule.baseMs + random() * (ceiling - schedule.baseMs));
}
