// Pass-through credentials for Secrets: a ServiceAccount token for the registry's audience, written as
// the password. The controller's own ServiceAccount serves every namespace with one token per audience
// (TokenRequest cannot bind it to a Secret in another namespace); a workload's ServiceAccount
// (kube-regcred.io/service-account) gets a token bound to the very Secret it is written into, so
// deleting that Secret revokes it for every verifier that asks the apiserver (TokenReview).
import type { Target } from '../annotations.ts';
import { RegcredError } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import { tokenKeyOf, type TokenCache } from '../exchange/token-cache.ts';

/**
 * What pass-through keys are prefixed with when they reach the controller's token waiters, which the
 * exchange cache's keys share: a pass-through token never wakes a Secret waiting on an exchange.
 */
export const PASSTHROUGH_WAIT_PREFIX = 'passthrough:';

/** The Secret a token is written into (and, for workload tokens, bound to). */
export interface SecretRef {
  namespace: string;
  name: string;
  uid: string | undefined;
}

export interface PassthroughCredentialsOptions {
  /** A token cache over createPassthroughExchanger(): the reuse and single-flight layer. */
  cache: TokenCache;
  /** `system:serviceaccount:<ns>:<name>` of the controller. */
  ownSubject: string;
  /** A NEW token of the controller's ServiceAccount for `audience` (no reuse: the cache reuses). */
  requestOwn: (audience: string) => Promise<string>;
  /** A NEW token of a workload ServiceAccount, bound to `boundTo` when given; absent: --workload-identity is off. */
  requestWorkload?: (serviceAccount: { namespace: string; name: string }, audience: string, boundTo?: { name: string; uid: string }) => Promise<string>;
  /** Bind workload tokens to their Secret (default true). */
  bindToSecret?: boolean;
}

export interface PassthroughCredentials {
  /** The cached token for this Secret's target, if it is not yet due; never mints. */
  peek(secret: SecretRef, target: Target): RegistryToken | undefined;
  /** A token not yet due: cached, in flight, or newly minted (one TokenRequest shared by all who wait). */
  get(secret: SecretRef, target: Target): Promise<RegistryToken>;
  /**
   * The key a Secret whose get() failed waits on (controller/token-waiters.ts): the cache's onStored,
   * prefixed with PASSTHROUGH_WAIT_PREFIX, names it when a token for the same audience and subject arrives.
   */
  waitKey(secret: SecretRef, target: Target): string;
}

export function createPassthroughCredentials(options: PassthroughCredentialsOptions): PassthroughCredentials {
  const bind = options.bindToSecret ?? true;

  function keyOf(secret: SecretRef, target: Target) {
    const audience = target.passthrough!.audience;
    const sa = target.serviceAccount;
    if (sa === undefined) return { identity: `passthrough:${audience}`, registry: '', subject: options.ownSubject };
    const subject = `system:serviceaccount:${secret.namespace}:${sa}`;
    // A bound token belongs to one Secret: its uid is part of the key (a re-created Secret gets a new one).
    return { identity: `passthrough:${audience}`, registry: '', subject: bind ? `${subject}#${secret.uid ?? ''}` : subject };
  }

  return {
    waitKey: (secret, target) => PASSTHROUGH_WAIT_PREFIX + tokenKeyOf(keyOf(secret, target)),
    peek(secret, target) {
      const key = keyOf(secret, target);
      return options.cache.peek(key.identity, key.registry, key.subject);
    },
    get(secret, target) {
      const audience = target.passthrough?.audience;
      if (audience === undefined) return Promise.reject(new RegcredError('Internal', 'not a pass-through target'));
      const sa = target.serviceAccount;
      const requestWorkload = options.requestWorkload;
      if (sa !== undefined && !requestWorkload) {
        return Promise.reject(new RegcredError('ServiceAccountInvalid', 'kube-regcred.io/service-account needs per-workload identity, which is off (--workload-identity)'));
      }
      if (sa !== undefined && bind && secret.uid === undefined) return Promise.reject(new RegcredError('KubeInvalid', 'Secret has no uid to bind its token to'));
      const boundTo = sa !== undefined && bind ? { name: secret.name, uid: secret.uid! } : undefined;
      return options.cache.get({
        ...keyOf(secret, target),
        subjectToken: () => (sa === undefined ? options.requestOwn(audience) : requestWorkload!({ namespace: secret.namespace, name: sa }, audience, boundTo)),
      });
    },
  };
}
