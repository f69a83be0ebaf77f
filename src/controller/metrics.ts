// The controller's Prometheus metrics, registered on a Registry created in cmd/ and passed down.
// Label values come only from closed sets (results, ErrorCode): never a Secret name, identity or token.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ERROR_CODES, type ErrorCode } from '../errors.ts';
import type { Exchanger } from '../exchange/exchanger.ts';

export interface ControllerMetrics {
  exchanges: Counter<'result'>;
  tokenRequests: Counter<'result'>;
  secretRefreshes: Counter;
  managedSecrets: Gauge;
  earliestExpirySeconds: Gauge;
  errors: Counter<'code'>;
  reconcileDuration: Histogram<'outcome'>;
  /** Tokens removed from Secrets the identity policy no longer allows. */
  revocations: Counter;
  policyReloads: Counter<'result'>;
}

/** `result` label values of exchanges_total and token_requests_total. */
export type RequestResult = 'success' | 'error';
/** `outcome` label values of reconcile_duration_seconds. */
export type ReconcileOutcome = 'ignored' | 'waiting' | 'written' | 'failed';

export interface ControllerMetricsOptions {
  registry: Registry;
  /** Seconds until the earliest token expiry among managed Secrets, computed at scrape time. */
  earliestExpirySeconds: () => number | undefined;
  /** Number of managed Secrets, computed at scrape time. */
  managedSecrets: () => number;
}

export function createControllerMetrics(options: ControllerMetricsOptions): ControllerMetrics {
  const registers = [options.registry];
  const errors = new Counter({
    name: 'kube_regcred_errors_total',
    help: 'Reconcile errors by error code.',
    labelNames: ['code'] as const,
    registers,
  });
  // Zero every code up front so rate() and alerts see a series before the first failure.
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) errors.inc({ code }, 0);

  const exchanges = new Counter({
    name: 'kube_regcred_exchanges_total',
    help: 'Token exchanges with the STS, by result.',
    labelNames: ['result'] as const,
    registers,
  });
  const tokenRequests = new Counter({
    name: 'kube_regcred_token_requests_total',
    help: 'TokenRequests for the controller ServiceAccount, by result.',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of ['success', 'error'] as const) {
    exchanges.inc({ result }, 0);
    tokenRequests.inc({ result }, 0);
  }
  const policyReloads = new Counter({
    name: 'kube_regcred_policy_reloads_total',
    help: 'Reloads of the identity policy file, by result (success, failure: old policy kept, unchanged).',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of ['success', 'failure', 'unchanged'] as const) policyReloads.inc({ result }, 0);
  return {
    policyReloads,
    revocations: new Counter({
      name: 'kube_regcred_token_revocations_total',
      help: 'Registry tokens removed from Secrets because the identity policy no longer allows them.',
      registers,
    }),
    exchanges,
    tokenRequests,
    errors,
    secretRefreshes: new Counter({
      name: 'kube_regcred_secret_refreshes_total',
      help: 'Secrets written with a new registry token.',
      registers,
    }),
    managedSecrets: new Gauge({
      name: 'kube_regcred_managed_secrets',
      help: 'Secrets that carry a kube-regcred identity annotation.',
      registers,
      collect() {
        this.set(options.managedSecrets());
      },
    }),
    earliestExpirySeconds: new Gauge({
      name: 'kube_regcred_earliest_expiry_seconds',
      help: 'Seconds until the earliest registry token expiry among managed Secrets (negative: expired).',
      registers,
      collect() {
        const value = options.earliestExpirySeconds();
        // No managed Secret with a token: report nothing rather than a misleading number.
        if (value === undefined) this.reset();
        else this.set(value);
      },
    }),
    reconcileDuration: new Histogram({
      name: 'kube_regcred_reconcile_duration_seconds',
      help: 'Time spent reconciling one Secret, by outcome.',
      labelNames: ['outcome'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
  };
}

/** Counts every exchange (one per single-flight, not per waiting Secret) by result. */
export function countExchanges(exchanger: Exchanger, metrics: ControllerMetrics): Exchanger {
  return {
    name: exchanger.name,
    audience: exchanger.audience,
    async exchange(request, signal) {
      try {
        const token = await exchanger.exchange(request, signal);
        metrics.exchanges.inc({ result: 'success' });
        return token;
      } catch (err) {
        metrics.exchanges.inc({ result: 'error' });
        throw err;
      }
    },
  };
}
