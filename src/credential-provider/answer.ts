// One kubelet request in, one answer out: decode, decide the target, exchange through the shared
// Exchanger, and derive how long the kubelet may cache it. I/O only through the injected exchanger.
import type { Clock } from '../clock.ts';
import { RegcredError } from '../errors.ts';
import { refreshAt, type RefreshSchedule } from '../token/refresh-time.ts';
import { TOKEN_USERNAME } from '../dockerconfig.ts';
import type { Exchanger, RegistryToken } from '../exchange/exchanger.ts';
import type { Logger } from '../log.ts';
import { decodeRequest, encodeResponse, type CacheKeyType, type CredentialAnswer, type CredentialProviderRequest } from './api.ts';
import { decideProviderTarget, type ProviderTargetSettings } from './decide.ts';

/**
 * How the registry credential is obtained. `exchange`: the Pod's token is traded at the STS for a
 * registry token (kubelet cacheType ServiceAccount). `passthrough`: the Pod's token itself is the
 * password, for registries that verify OIDC tokens (the kubelet accepts that only with cacheType Token).
 */
export type ProviderMode = 'exchange' | 'passthrough';
export const PROVIDER_MODES: readonly ProviderMode[] = ['exchange', 'passthrough'];

export interface AnswerDeps {
  mode: ProviderMode;
  exchanger: Exchanger;
  clock: Clock;
  /** The controller's refresh schedule: the kubelet reuses our answer exactly as long as the controller would. */
  refresh: RefreshSchedule;
  target: ProviderTargetSettings;
  /** passthrough: the username beside the token (kube-regcred sts: the issuer's name in its config). */
  passthroughUsername: string;
  cacheKeyType: CacheKeyType;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Whole seconds until the token is due by the controller's rule (refreshAt), never past its `exp`.
 * 0 (the kubelet then does not cache) when it is already due.
 */
export function cacheDurationSeconds(token: RegistryToken, now: Date, refresh: RefreshSchedule): number {
  const dueMs = refreshAt(token.token, token, refresh).getTime();
  const untilMs = Math.min(dueMs, token.expiresAt.getTime()) - now.getTime();
  return Math.max(0, Math.floor(untilMs / 1000));
}

/** The match pattern of our auth entry: the registry, or the image itself for Image cache keys. */
function patternFor(request: CredentialProviderRequest, registry: string, cacheKeyType: CacheKeyType): string {
  return cacheKeyType === 'Image' ? request.image : registry;
}

/** The response JSON for the kubelet; rejects with a RegcredError whose message is the reason to show. */
export async function answerRequest(raw: string, deps: AnswerDeps): Promise<string> {
  const request = decodeRequest(raw);
  const decision = decideProviderTarget(request, deps.target, deps.mode);
  if (decision.kind === 'reject') {
    deps.logger.warn({ code: decision.error.code, serviceAccount: decision.serviceAccount }, 'request refused');
    throw decision.error;
  }
  const { registry, serviceAccount } = decision;
  const passthrough = decision.kind === 'passthrough';
  const log = deps.logger.child({
    serviceAccount: `${serviceAccount.namespace}/${serviceAccount.name}`,
    registry,
    ...(passthrough ? {} : { identity: decision.identity, identityFrom: decision.identityFrom }),
  });
  // Pass-through: the pass-through exchanger only reads the Pod token's lifetime, as for the controller.
  const token = await deps.exchanger.exchange({ identity: passthrough ? '' : decision.identity, registry, subjectToken: decision.subjectToken }, deps.signal);
  if (!passthrough && token.token === decision.subjectToken) {
    // The kubelet silently drops such an answer unless cacheType is Token (the pass-through mode's case).
    throw new RegcredError('StsBadResponse', 'the STS answered with the ServiceAccount token itself, not a registry token');
  }
  const seconds = cacheDurationSeconds(token, deps.clock.now(), deps.refresh);
  log.info({ exchanger: deps.exchanger.name, expiresAt: token.expiresAt.toISOString(), cacheDurationSeconds: seconds }, passthrough ? 'ServiceAccount token passed through' : 'registry token issued');
  const answer: CredentialAnswer = {
    cacheKeyType: deps.cacheKeyType,
    cacheDurationSeconds: seconds,
    pattern: patternFor(request, registry, deps.cacheKeyType),
    username: passthrough ? deps.passthroughUsername : TOKEN_USERNAME,
    password: token.token,
  };
  return encodeResponse(answer);
}
