// TokenRequest (`serviceaccounts/token` create) for the controller's OWN ServiceAccount: the identity it
// presents to the token exchange. The RBAC grant names that one ServiceAccount in resourceNames.
import { RegcredError } from '../errors.ts';
import { classifyKubeError } from './errors.ts';
import type { KubeClients } from './kube-config.ts';

export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export interface TokenRequestOptions {
  audience: string;
  /** The apiserver refuses less than 600 and may shorten what it grants (it reports the real expiry). */
  expirationSeconds: number;
}

export type TokenRequester = (options: TokenRequestOptions) => Promise<IssuedToken>;

/**
 * `workload`: the ServiceAccount is a workload's, not the controller's own. A 403 then means the opt-in
 * RBAC (manifests/components/workload-identity) is missing: TokenRequestForbidden, permanent, reported on
 * the Secret, rather than a controller-wide hiccup retried every few seconds.
 */
export function createTokenRequester(clients: KubeClients, serviceAccount: ServiceAccountRef, options: { workload?: boolean } = {}): TokenRequester {
  return async ({ audience, expirationSeconds }) => {
    let result;
    try {
      result = await clients.core.createNamespacedServiceAccountToken({
        name: serviceAccount.name,
        namespace: serviceAccount.namespace,
        body: { spec: { audiences: [audience], expirationSeconds } },
      });
    } catch (err) {
      // A failed TokenRequest is a controller-wide problem (RBAC, apiserver), not one of the Secret being
      // reconciled: report it as TokenRequestFailed (transient, retried with backoff) and keep the status,
      // so a KubeForbidden here is never mistaken for "this Secret is outside the write grant".
      const error = classifyKubeError(err, `TokenRequest for ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`);
      if (options.workload && error.code === 'KubeForbidden') {
        // Name and namespace apart: `ns/name` can exceed the 32-character run last-error redacts as token-like.
        throw new RegcredError('TokenRequestForbidden', `TokenRequest for ServiceAccount ${serviceAccount.name} in namespace ${serviceAccount.namespace}: HTTP 403: the controller may not mint tokens of this ServiceAccount (workload-identity RBAC component)`, {
          status: error.status,
        });
      }
      throw new RegcredError('TokenRequestFailed', `${error.message} (${error.code})`, {
        status: error.status,
        retryAfterMs: error.retryAfterMs,
      });
    }
    const token = result.status?.token;
    const expiresAt = result.status?.expirationTimestamp;
    if (!token || !(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
      throw new RegcredError('TokenRequestFailed', 'TokenRequest answered without a token or expiry');
    }
    return { token, expiresAt };
  };
}
