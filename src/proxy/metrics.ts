// The proxy's Prometheus metrics, registered on the registry passed in from cmd/proxy.ts.
import { Counter, Histogram, type Registry } from 'prom-client';

/** `base` (`/v2/`), `catalog`, or the action the route needs; `none` for paths outside the API. */
export type MetricAction = 'base' | 'catalog' | 'pull' | 'push' | 'delete' | 'none';

/**
 * `forwarded`: the upstream answered (whatever its status); `unauthenticated`: no or a non-Bearer
 * credential; `invalid_token`: a token that failed verification; `denied`: a valid token without the
 * grant; `not_found`/`method_not_allowed`: outside the API grammar; `keys_unavailable`: the token
 * service's keys could not be read; `upstream_error`: the upstream unreachable or broken mid-way.
 */
export type MetricResult =
  | 'forwarded'
  | 'unauthenticated'
  | 'invalid_token'
  | 'denied'
  | 'not_found'
  | 'method_not_allowed'
  | 'keys_unavailable'
  | 'upstream_error';

export interface ProxyMetrics {
  requests: Counter<'action' | 'result'>;
  /** Body bytes through the proxy: `upload` client → upstream, `download` upstream → client. */
  bytes: Counter<'direction'>;
  /** Time from the request to the upstream's response headers, for forwarded requests. */
  upstreamDuration: Histogram<'action'>;
}

export function createProxyMetrics(registry: Registry): ProxyMetrics {
  return {
    requests: new Counter({
      name: 'kube_regcred_proxy_requests_total',
      help: 'Requests to the registry proxy, by required action and result.',
      labelNames: ['action', 'result'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'kube_regcred_proxy_bytes_total',
      help: 'Body bytes streamed through the proxy, by direction (upload, download).',
      labelNames: ['direction'],
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: 'kube_regcred_proxy_upstream_duration_seconds',
      help: 'Time until the upstream registry answered with headers, by action.',
      labelNames: ['action'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
