// Applies what failure-plan.ts decides: counts and logs a failure, records its Event, writes last-error,
// and remembers per Secret what was reported, so the next plan can tell a new failure from a retry.
import { ANNOTATIONS } from '../annotations.ts';
import { toRegcredError } from '../errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SecretObject } from '../kube/secret-informer.ts';
import type { Logger } from '../log.ts';
import { planFailure, planRecovery, type FailureInput } from './failure-plan.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { Outcome } from './outcome.ts';
import type { SecretUpdates } from './secret-updates.ts';

export interface FailureReport {
  /** Applies planFailure(); `counted` false: leadership was lost, nothing was reported. */
  fail(key: string, secret: SecretObject, log: Logger, input: Omit<FailureInput, 'reported' | 'lastError'>): Promise<{ outcome: Outcome; counted: boolean }>;
  /** After a success: a Normal Event if a failure had been reported; true when last-error must be cleared. */
  recover(key: string, secret: SecretObject): Promise<boolean>;
  /** A failure was reported for the key by this process. */
  hasReported(key: string): boolean;
  forget(key: string): void;
}

export function createFailureReport(deps: { events: EventRecorder; metrics: ControllerMetrics; updates: SecretUpdates }): FailureReport {
  /**
   * The failure last reported per key (by Event), so Events mark transitions, never retries (seeded
   * from the last-error annotation in failure-plan.ts, so a restart repeats no Event).
   */
  const reported = new Map<string, string>();
  return {
    async fail(key, secret, log, input) {
      const { error } = input;
      const plan = planFailure({ ...input, reported: reported.get(key), lastError: secret.annotations[ANNOTATIONS.lastError] });
      if (!plan.counted) {
        log.info('leadership lost during the reconcile; nothing written');
        return plan;
      }
      deps.metrics.errors.inc({ code: error.code });
      log.warn({ code: error.code, status: error.status, error: error.message }, 'reconcile failed');
      if (plan.reported !== undefined) reported.set(key, plan.reported);
      if (plan.event) await deps.events.record(secret, { type: 'Warning', ...plan.event });
      if (plan.status) {
        try {
          await deps.updates.writeStatus(secret, plan.status);
        } catch (err) {
          log.warn({ code: toRegcredError(err).code }, 'last-error annotation not written');
        }
      }
      return plan;
    },
    async recover(key, secret) {
      const plan = planRecovery(reported.get(key), secret.annotations[ANNOTATIONS.lastError]);
      reported.delete(key);
      if (plan.event) await deps.events.record(secret, { type: 'Normal', ...plan.event });
      return plan.clearLastError;
    },
    hasReported: (key) => reported.has(key),
    forget: (key) => void reported.delete(key),
  };
}
