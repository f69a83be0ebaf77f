// Where a reconcile gets a Secret's registry token: the pass-through credentials, or the exchange cache
// with the subject token of the controller's own ServiceAccount or (per-workload identity) of the
// Secret's. A refusal of the subject token by the STS drops it, so the next attempt asks for a new one.
import { ANNOTATIONS, type Target } from '../annotations.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import { tokenKeyOf, type TokenCache } from '../exchange/token-cache.ts';
import type { ServiceAccountTokenSource } from '../token/service-account-token.ts';
import type { WorkloadTokenSources } from '../token/workload-tokens.ts';
import type { PassthroughCredentials, SecretRef } from './passthrough-credentials.ts';

export interface RegistryTokensDeps {
  tokenCache: TokenCache;
  serviceAccountTokens: ServiceAccountTokenSource;
  /** Audience of the ServiceAccount token the exchanger accepts. */
  audience: string;
  /** Who exchanges: `system:serviceaccount:<ns>:<name>` (part of the token-cache key). */
  subject: string;
  /** Per-workload identity; absent: the mode is off and such Secrets are refused. */
  workloadTokens?: WorkloadTokenSources | undefined;
  /** Bind per-workload subject tokens to the Secret being reconciled (TokenRequest boundObjectRef). */
  bindWorkloadTokens?: boolean | undefined;
  /** Pass-through Secrets; absent: such Secrets are refused. */
  passthrough?: PassthroughCredentials | undefined;
}

export interface RegistryTokens {
  /** The cached token for the Secret's target when it is not yet due; never exchanges. */
  peek(secret: SecretRef, target: Target): RegistryToken | undefined;
  /** A token not yet due: cached (no exchange), in flight, or newly exchanged. */
  get(secret: SecretRef, target: Target): Promise<RegistryToken>;
  /** The token key whose arrival wakes a Secret that failed to get one (controller/token-waiters.ts); pass-through ones wait on their own cache's key. */
  waitKey(secret: SecretRef, target: Target): string;
}

export function createRegistryTokens(deps: RegistryTokensDeps): RegistryTokens {
  /** The token-cache subject: the workload's ServiceAccount, or the controller's own. */
  const subjectOf = (namespace: string, target: Target): string =>
    target.serviceAccount === undefined ? deps.subject : `system:serviceaccount:${namespace}:${target.serviceAccount}`;

  return {
    peek(secret, target) {
      if (target.passthrough) return deps.passthrough?.peek(secret, target);
      return deps.tokenCache.peek(target.identity, target.registry, subjectOf(secret.namespace, target));
    },
    async get(secret, target) {
      const sa = target.serviceAccount;
      // Bound to this Secret: deleting it revokes the subject token for verifiers that ask the apiserver.
      const bound = deps.bindWorkloadTokens && secret.uid !== undefined ? { boundTo: { name: secret.name, uid: secret.uid } } : {};
      const workload = sa === undefined ? undefined : { namespace: secret.namespace, name: sa, ...bound };
      try {
        if (sa !== undefined && !deps.workloadTokens) {
          throw new RegcredError('ServiceAccountInvalid', `${ANNOTATIONS.serviceAccount} needs per-workload identity, which is off (--workload-identity)`);
        }
        if (target.passthrough) {
          if (!deps.passthrough) throw new RegcredError('AccessInvalid', 'pass-through is not configured in this controller');
          return await deps.passthrough.get(secret, target);
        }
        return await deps.tokenCache.get({
          identity: target.identity,
          registry: target.registry,
          subject: subjectOf(secret.namespace, target),
          access: target.access,
          subjectToken: () => (workload ? deps.workloadTokens!.get(workload, deps.audience) : deps.serviceAccountTokens.get(deps.audience)),
        });
      } catch (err) {
        const error = toRegcredError(err);
        // The STS refused the ServiceAccount token: ask for a new one next time rather than reuse it.
        if (error.code === 'StsUnauthorized') {
          if (workload === undefined) deps.serviceAccountTokens.invalidate(deps.audience);
          else deps.workloadTokens?.invalidate(workload, deps.audience);
        }
        throw error;
      }
    },
    waitKey(secret, target) {
      if (target.passthrough && deps.passthrough) return deps.passthrough.waitKey(secret, target);
      return tokenKeyOf({ identity: target.identity, registry: target.registry, subject: subjectOf(secret.namespace, target) });
    },
  };
}
