// Builds the pass-through credential source of `kube-regcred controller`: fresh TokenRequests (counted
// in token_requests_total, jti logged) behind a token cache of their own over the pass-through exchanger,
// whose stored tokens wake the Secrets waiting for them (as the exchange cache's do).
import type { Clock } from '../clock.ts';
import { createPassthroughCredentials, PASSTHROUGH_WAIT_PREFIX, type PassthroughCredentials } from '../controller/passthrough-credentials.ts';
import type { ControllerMetrics } from '../controller/metrics.ts';
import type { ControllerSettings } from '../controller/options.ts';
import { createPassthroughExchanger } from '../exchange/passthrough.ts';
import { createTokenCache } from '../exchange/token-cache.ts';
import type { KubeApi } from '../kube/api-client.ts';
import { createTokenRequester, type TokenRequester } from '../kube/token-request.ts';
import type { Logger } from '../log.ts';

export interface PassthroughWiringDeps {
  api: KubeApi;
  clock: Clock;
  logger: Logger;
  metrics: ControllerMetrics;
  settings: Pick<ControllerSettings, 'refresh' | 'tokenExpirationSeconds' | 'workloadIdentity' | 'bindWorkloadTokens'>;
  /** TokenRequest for the controller's own ServiceAccount (unbound: it serves many namespaces). */
  ownRequester: TokenRequester;
  ownSubject: string;
  /** A TokenRequest stored a token: the waiter key (PassthroughCredentials.waitKey) of the Secrets it can serve. */
  onTokenStored?: (waitKey: string) => void;
}

export function createPassthroughWiring(deps: PassthroughWiringDeps): PassthroughCredentials {
  const { api, logger, metrics, settings } = deps;
  const expirationSeconds = settings.tokenExpirationSeconds;
  const counted = async (mint: () => Promise<{ token: string }>): Promise<string> => {
    try {
      const { token } = await mint();
      metrics.tokenRequests.inc({ result: 'success' });
      return token;
    } catch (err) {
      metrics.tokenRequests.inc({ result: 'error' });
      throw err;
    }
  };
  return createPassthroughCredentials({
    // Like the exchange cache's: a token that ends a TokenRequest outage wakes every Secret that failed waiting for it.
    cache: createTokenCache({
      exchanger: createPassthroughExchanger(),
      clock: deps.clock,
      refresh: settings.refresh,
      onStored: (key) => deps.onTokenStored?.(PASSTHROUGH_WAIT_PREFIX + key),
    }),
    ownSubject: deps.ownSubject,
    requestOwn: (audience) => counted(() => deps.ownRequester({ audience, expirationSeconds })),
    ...(settings.workloadIdentity
      ? {
          requestWorkload: (sa: { namespace: string; name: string }, audience: string, boundTo?: { name: string; uid: string }) =>
            counted(() => createTokenRequester(api, sa, { workload: true, logger, ...(boundTo ? { boundTo } : {}) })({ audience, expirationSeconds })),
        }
      : {}),
    bindToSecret: settings.bindWorkloadTokens,
  });
}
