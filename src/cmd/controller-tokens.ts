// Builds where `kube-regcred controller` gets its tokens: the Chainguard-protocol exchanger (counted,
// leader-guarded) behind the single-flight registry-token cache, TokenRequests for its own
// ServiceAccount and, opt-in, for workloads' ServiceAccounts, and the pass-through credentials.
import type { Clock, Random } from '../clock.ts';
import { guardExchanger, type IsLeader } from '../controller/leader-guard.ts';
import { countExchanges, type ControllerMetrics } from '../controller/metrics.ts';
import type { ControllerSettings } from '../controller/options.ts';
import type { PassthroughCredentials } from '../controller/passthrough-credentials.ts';
import { createChainguardExchanger } from '../exchange/chainguard.ts';
import type { Exchanger } from '../exchange/exchanger.ts';
import { createTokenCache, type TokenCache } from '../exchange/token-cache.ts';
import type { KubeApi } from '../kube/api-client.ts';
import { createTokenRequester } from '../kube/token-request.ts';
import type { Logger } from '../log.ts';
import { createServiceAccountTokenSource, type ServiceAccountTokenSource } from '../token/service-account-token.ts';
import { createWorkloadTokenSources, type WorkloadTokenSources } from '../token/workload-tokens.ts';
import { createPassthroughWiring } from './passthrough-wiring.ts';

export interface ControllerTokensDeps {
  api: KubeApi;
  settings: ControllerSettings;
  /** The controller's own ServiceAccount. */
  serviceAccount: { namespace: string; name: string };
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: ControllerMetrics;
  isLeader: IsLeader;
  /** An exchange stored a token for this token-cache key. */
  onStored: (key: string) => void;
}

export interface ControllerTokens {
  exchanger: Exchanger;
  tokenCache: TokenCache;
  serviceAccountTokens: ServiceAccountTokenSource;
  workloadTokens: WorkloadTokenSources | undefined;
  passthrough: PassthroughCredentials;
  /** `system:serviceaccount:<ns>:<name>` of the controller itself. */
  ownSubject: string;
}

export function buildControllerTokens(deps: ControllerTokensDeps): ControllerTokens {
  const { api, settings, clock, random, logger, metrics } = deps;
  const exchanger = guardExchanger(
    countExchanges(
      createChainguardExchanger({ issuerUrl: settings.issuerUrl, audience: settings.audience, timeoutMs: settings.exchangeTimeoutMs, clock, random,
        capabilities: settings.capabilities, scopes: settings.scopes }),
      metrics,
    ),
    deps.isLeader,
  );
  // A token that ends an outage wakes every Secret that failed waiting for it (controller/token-waiters.ts).
  const tokenCache = createTokenCache({ exchanger, clock, refresh: settings.refresh, onStored: deps.onStored });
  const ownTokenRequester = createTokenRequester(api, deps.serviceAccount, { logger });
  const onRequest = (result: 'success' | 'error') => metrics.tokenRequests.inc({ result });
  const serviceAccountTokens = createServiceAccountTokenSource({ request: ownTokenRequester, clock, expirationSeconds: settings.tokenExpirationSeconds, onRequest });

  // Opt-in: minting tokens of other ServiceAccounts is a power the RBAC component grants on purpose.
  const workloadTokens = settings.workloadIdentity
    ? createWorkloadTokenSources({
        request: (sa, request) => createTokenRequester(api, sa, { workload: true, logger, ...(sa.boundTo ? { boundTo: sa.boundTo } : {}) })(request),
        clock,
        expirationSeconds: settings.tokenExpirationSeconds,
        onRequest,
      })
    : undefined;

  const ownSubject = `system:serviceaccount:${deps.serviceAccount.namespace}:${deps.serviceAccount.name}`;
  // Its stored tokens wake the pass-through Secrets waiting for them, as the exchange cache's do.
  const passthrough = createPassthroughWiring({ api, clock, logger, metrics, settings, ownRequester: ownTokenRequester, ownSubject, onTokenStored: deps.onStored });
  return { exchanger, tokenCache, serviceAccountTokens, workloadTokens, passthrough, ownSubject };
}
