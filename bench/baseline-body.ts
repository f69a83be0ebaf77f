// What the baseline writes: the body the controller writes for one Secret (a
// dockerconfigjson holding one registry token, expires-at/refreshed-at, the resourceVersion precondition).
import { randomUUID } from 'node:crypto';
import { ANNOTATIONS, formatStatus } from '../src/annotations.ts';
import { serializeDockerConfig, withRegistryToken } from '../src/dockerconfig.ts';

export interface BaselineConfig {
  server: string;
  caPem: string;
  token: string;
  concurrency: number;
  labelSelector: string;
  registry: string;
  fieldManager: string;
  issuer: string;
  tokenLifetimeSeconds: number;
}

export interface ListedSecret {
  metadata?: { namespace?: string; name?: string; resourceVersion?: string; annotations?: Record<string, string> };
}

export type TokenMemo = Map<string, { token: string; expiresAt: Date }>;

export interface BaselineResult {
  listMs: number;
  patchMs: number;
  patched: number;
  failed: number;
  /** Peak RSS of the client process (getrusage), MiB. */
  maxRssMiB: number;
  /** CPU seconds of the client process (user + system, all its threads), from its start to its last patch. */
  cpuSeconds: number;
}

/** A registry JWT shaped and sized like the STS's (ES256, same claims), unsigned: nobody verifies it here. */
function registryTokenLike(identity: string, config: BaselineConfig): { token: string; expiresAt: Date } {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const exp = iat + config.tokenLifetimeSeconds;
  const header = b64({ alg: 'ES256', kid: randomUUID(), typ: 'JWT' });
  const claims = b64({ iss: config.issuer, sub: identity, aud: config.registry, iat, exp, jti: randomUUID() });
  return { token: `${header}.${claims}.${Buffer.alloc(64, 7).toString('base64url')}`, expiresAt: new Date(exp * 1000) };
}

export function patchBody(secret: ListedSecret, config: BaselineConfig, tokens: TokenMemo): object {
  const identity = secret.metadata?.annotations?.[ANNOTATIONS.identity] ?? '';
  let token = tokens.get(identity);
  if (!token) {
    token = registryTokenLike(identity, config);
    tokens.set(identity, token);
  }
  const dockerConfigJson = serializeDockerConfig(withRegistryToken({}, config.registry, token.token));
  return {
    metadata: { resourceVersion: secret.metadata?.resourceVersion, annotations: formatStatus({ expiresAt: token.expiresAt, refreshedAt: new Date() }) },
    data: { '.dockerconfigjson': Buffer.from(dockerConfigJson, 'utf8').toString('base64') },
  };
}
