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

export function createTokenRequester(clients: KubeClients, serviceAccount: ServiceAccountRef): TokenRequester {
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
