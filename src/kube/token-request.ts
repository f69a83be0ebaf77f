// TokenRequest (`serviceaccounts/token` create) for the controller's OWN ServiceAccount: the identity it
// presents to the token exchange. The RBAC grant names that one ServiceAccount in resourceNames.
import type { AuthenticationV1TokenRequest } from '@kubernetes/client-node';
import { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { readJwtId } from '../token/jwt-times.ts';
import type { KubeApi } from './api-client.ts';
import { classifyKubeError } from './errors.ts';
import { typedApis } from './typed-apis.ts';

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

export interface TokenRequesterOptions {
  /** The ServiceAccount is a workload's (see below). */
  workload?: boolean;
  /** Bind the token to this Secret (same namespace as the ServiceAccount): deleting it revokes the token. */
  boundTo?: { name: string; uid: string };
  /** Logs each minted token's `jti` (never the token), to match apiserver audit logs and TokenReviews. */
  logger?: Logger;
}

/**
 * `workload`: the ServiceAccount is a workload's, not the controller's own. A 403 then means the opt-in
 * RBAC (manifests/components/workload-identity) is missing: TokenRequestForbidden, permanent, reported on
 * the Secret, rather than a controller-wide hiccup retried every few seconds.
 */
export function createTokenRequester(api: KubeApi, serviceAccount: ServiceAccountRef, options: TokenRequesterOptions = {}): TokenRequester {
  const { boundTo } = options;
  const boundObjectRef = boundTo ? { boundObjectRef: { kind: 'Secret', apiVersion: 'v1', name: boundTo.name, uid: boundTo.uid } } : {};
  return async ({ audience, expirationSeconds }) => {
    let result: AuthenticationV1TokenRequest;
    try {
      result = await typedApis(api).core.createNamespacedServiceAccountToken({
        name: serviceAccount.name,
        namespace: serviceAccount.namespace,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [audience], expirationSeconds, ...boundObjectRef } },
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
    const token = result?.status?.token;
    // The generated deserializer revives metav1.Time as a Date.
    const expiresAt = new Date(result?.status?.expirationTimestamp ?? NaN);
    if (!token || Number.isNaN(expiresAt.getTime())) {
      throw new RegcredError('TokenRequestFailed', 'TokenRequest answered without a token or expiry');
    }
    options.logger?.info(
      {
        serviceAccount: `${serviceAccount.namespace}/${serviceAccount.name}`,
        audience,
        jti: readJwtId(token),
        expiresAt: expiresAt.toISOString(),
        boundTo: boundTo ? `Secret ${serviceAccount.namespace}/${boundTo.name}` : false,
      },
      'service account token minted',
    );
    return { token, expiresAt };
  };
}
