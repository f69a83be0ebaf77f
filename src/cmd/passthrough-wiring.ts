// Builds the pass-through credential source of `kube-regcred controller`: fresh TokenRequests (counted
// in token_requests_total, jti logged) behind a token cache of their own over the pass-through exchanger.
import type { Clock } from '../clock.ts';
import { createPassthroughCredentials, type PassthroughCredentials } from '../controller/passthrough-credentials.ts';
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
    cache: createTokenCache({ exchanger: createPassthroughExchanger(), clock: deps.clock, refresh: settings.refresh }),
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
