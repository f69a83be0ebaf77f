// The attach-to step of a reconcile: after the Secret is known to hold a good token, make sure each
// listed ServiceAccount's imagePullSecrets names it. Failures never fail the token's reconcile: they get
// one Event per ServiceAccount, a metric, and an earlier look.
import { formatLastError } from '../annotations.ts';
import type { Clock } from '../clock.ts';
import { toRegcredError } from '../errors.ts';
import { EVENT_REASONS, type EventRecorder } from '../kube/events.ts';
import type { SecretObject } from '../kube/secret-informer.ts';
import type { ServiceAccountAttacher } from '../kube/service-accounts.ts';
import type { Logger } from '../log.ts';
import type { ControllerMetrics } from './metrics.ts';

export interface AttachStepOptions {
  /** Absent: attach-to is ignored. */
  attacher?: ServiceAccountAttacher;
  events: EventRecorder;
  metrics: ControllerMetrics;
  clock: Clock;
  /** How soon a failed attach is tried again (the token may be good for much longer). */
  retryMs: number;
}

export interface AttachStep {
  /** True when every ServiceAccount in `names` (attach-to as decide() parsed it) names the Secret. */
  run(key: string, secret: SecretObject, names: readonly string[], log: Logger): Promise<boolean>;
  /** The next look: `at`, or sooner when an attach still has to be retried. */
  nextLook(at: Date, attached: boolean): Date;
  forget(key: string): void;
}

export function createAttachStep(options: AttachStepOptions): AttachStep {
  /** Per key, the ServiceAccounts whose failure was reported, so a retry does not repeat the Event. */
  const failures = new Map<string, Set<string>>();
  return {
    async run(key, secret, names, log) {
      if (!options.attacher) return true;
      if (names.length === 0) {
        failures.delete(key);
        return true;
      }
      const failed = failures.get(key) ?? new Set<string>();
      let ok = true;
      for (const name of names) {
        try {
          const result = await options.attacher.attach(secret.namespace, name, secret.name);
          failed.delete(name);
          if (result === 'attached') {
            log.info({ serviceAccount: name }, 'pull secret attached to ServiceAccount');
            await options.events.record(secret, { type: 'Normal', reason: EVENT_REASONS.Attached, message: `added to imagePullSecrets of ServiceAccount ${name}` });
          }
        } catch (err) {
          ok = false;
          const error = toRegcredError(err);
          options.metrics.errors.inc({ code: error.code });
          log.warn({ serviceAccount: name, code: error.code }, 'attach to ServiceAccount failed');
          if (!failed.has(name)) {
            failed.add(name);
            await options.events.record(secret, { type: 'Warning', reason: EVENT_REASONS.AttachFailed, message: formatLastError(error) });
          }
        }
      }
      if (failed.size === 0) failures.delete(key);
      else failures.set(key, failed);
      return ok;
    },
    nextLook(at, attached) {
      return attached ? at : new Date(Math.min(at.getTime(), options.clock.now().getTime() + options.retryMs));
    },
    forget(key) {
      failures.delete(key);
    },
  };
}
