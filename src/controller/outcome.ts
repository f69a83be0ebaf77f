// What a reconcile tells the queue: requeue as data, turned into timers in one place (controller.ts).
import type { RegcredError } from '../errors.ts';

export type Outcome =
  /** Not ours (any more), or not ours to act on (follower): no timer. */
  | { kind: 'ignore' }
  /** Healthy: look again at `at` (the token's refresh instant); resets the backoff. */
  | { kind: 'ok'; at: Date }
  /**
   * Transient failure: retry with backoff, never later than `usefulUntil` (the old token's exp).
   * `waitingFor`: the token key (token-cache.ts tokenKeyOf) whose exchange failed; the Secret is also
   * retried as soon as any exchange for that key succeeds.
   */
  | { kind: 'transient'; error: RegcredError; usefulUntil?: Date; waitingFor?: string }
  /** Permanent failure: wait for the Secret to change. */
  | { kind: 'permanent'; error: RegcredError }
  /** The write is outside the RBAC grant: wait for a change, or retry after a long delay. */
  | { kind: 'forbidden'; error: RegcredError };
