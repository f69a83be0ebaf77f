// The token service's Prometheus metrics, registered on the registry passed in from cmd/sts.ts.
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ErrorCode } from '../errors.ts';

export type Endpoint = 'exchange' | 'token' | 'jwks' | 'other';

export interface StsMetrics {
  /** `action`: pull or push per granted action, `exchange` for /sts/exchange, `none` for a token granting nothing. */
  tokensIssued: Counter<'identity' | 'action'>;
  /** `reason`: an error code, or `RequestInvalid` for oversize/unsupported requests. */
  refusals: Counter<'reason'>;
  requestDuration: Histogram<'endpoint'>;
  configReloads: Counter<'result'>;
  /** Discovery + JWKS fetches per issuer URL, `result` success or failure. */
  issuerKeyFetches: Counter<'issuer' | 'result'>;
}

export function createStsMetrics(registry: Registry): StsMetrics {
  return {
    tokensIssued: new Counter({
      name: 'kube_regcred_sts_tokens_issued_total',
      help: 'Registry tokens issued, by identity UID and granted action (exchange for /sts/exchange).',
      labelNames: ['identity', 'action'],
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'kube_regcred_sts_refusals_total',
      help: 'Requests refused, by error code.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    requestDuration: new Histogram({
      name: 'kube_regcred_sts_request_duration_seconds',
      help: 'Time to answer a request, by endpoint.',
      labelNames: ['endpoint'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    configReloads: new Counter({
      name: 'kube_regcred_sts_config_reloads_total',
      help: 'Configuration reload attempts, by result (success, failure, unchanged).',
      labelNames: ['result'],
      registers: [registry],
    }),
    issuerKeyFetches: new Counter({
      name: 'kube_regcred_sts_issuer_key_fetches_total',
      help: 'OIDC discovery + JWKS fetches, by issuer URL and result (success, failure).',
      labelNames: ['issuer', 'result'],
      registers: [registry],
    }),
  };
}

export function countRefusal(metrics: StsMetrics, code: ErrorCode): void {
  metrics.refusals.inc({ reason: code });
}
