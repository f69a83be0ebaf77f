// Verification keys of one trusted OIDC issuer: a static JWKS, or discovery + a remote JWKS that
// jose caches and refetches only for an unknown `kid` after a cooldown, never per request.
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import { RegcredError } from '../errors.ts';
import { createHttpsFetch, type FetchLike } from './https-fetch.ts';

export interface IssuerKeySource {
  /** The issuer URL (`iss`). */
  issuer: string;
  /** Static JWKS; when set, nothing is fetched. */
  jwks?: { keys: unknown[] };
  /** PEM CA bundle for discovery and JWKS fetches. */
  caPem?: string;
}

export interface IssuerKeysOptions {
  /** Minimum time between JWKS fetches triggered by unknown `kid`s (jose's cooldown). */
  cooldownMs?: number;
  /** Keys are refetched at most this old even without an unknown `kid`. */
  cacheMaxAgeMs?: number;
  /** After a failed discovery, wait this long before trying again: a dead issuer must not be hammered. */
  discoveryRetryMs?: number;
  timeoutMs?: number;
  /** Injected for tests; default: node:https with the source's CA. */
  fetch?: FetchLike;
  now?: () => number;
}

export interface IssuerKeys {
  readonly getKey: JWTVerifyGetKey;
}

interface Discovery {
  jwksUri: string;
}

async function discover(issuer: string, fetch: FetchLike): Promise<Discovery> {
  const url = issuer.replace(/\/$/, '') + '/.well-known/openid-configuration';
  let doc: unknown;
  try {
    const res = await fetch(url);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    doc = await res.json();
  } catch (err) {
    throw new RegcredError('JwksUnavailable', `OIDC discovery failed for ${issuer}: ${(err as Error).message}`);
  }
  const { issuer: advertised, jwks_uri: jwksUri } = (doc ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
  // OIDC Discovery §4.3: the document must name the very issuer it was fetched for.
  if (advertised !== issuer) {
    throw new RegcredError('JwksUnavailable', `OIDC discovery for ${issuer} names another issuer`);
  }
  if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://')) {
    throw new RegcredError('JwksUnavailable', `OIDC discovery for ${issuer} has no https jwks_uri`);
  }
  return { jwksUri };
}

/** Builds the key resolver; discovery runs lazily on the first token, so a down issuer never blocks startup. */
export function createIssuerKeys(source: IssuerKeySource, options: IssuerKeysOptions = {}): IssuerKeys {
  if (source.jwks) {
    const local = createLocalJWKSet(source.jwks as Parameters<typeof createLocalJWKSet>[0]);
    return { getKey: local };
  }
  const fetch = options.fetch ?? createHttpsFetch({ ...(source.caPem ? { caPem: source.caPem } : {}), timeoutMs: options.timeoutMs ?? 5_000 });
  const now = options.now ?? Date.now;
  const retryMs = options.discoveryRetryMs ?? 10_000;
  let remote: JWTVerifyGetKey | undefined;
  let pending: Promise<JWTVerifyGetKey> | undefined;
  let failure: { error: RegcredError; at: number } | undefined;

  async function resolveRemote(): Promise<JWTVerifyGetKey> {
    if (remote) return remote;
    if (failure && now() - failure.at < retryMs) throw failure.error;
    // Concurrent first requests share one discovery.
    pending ??= discover(source.issuer, fetch)
      .then(({ jwksUri }) => {
        remote = createRemoteJWKSet(new URL(jwksUri), {
          cooldownDuration: options.cooldownMs ?? 30_000,
          cacheMaxAge: options.cacheMaxAgeMs ?? 600_000,
          timeoutDuration: options.timeoutMs ?? 5_000,
          [customFetch]: (url, init) => fetch(url, init),
        });
        failure = undefined;
        return remote;
      })
      .catch((err: unknown) => {
        failure = { error: err as RegcredError, at: now() };
        throw err;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  return {
    getKey: async (header, token) => (await resolveRemote())(header, token),
  };
}

/** Identifies a key source, so reloads keep the caches of issuers whose trust did not change. */
export function issuerKeySourceId(source: IssuerKeySource): string {
  return JSON.stringify([source.issuer, source.jwks ?? null, source.caPem ?? null]);
}

/**
 * Key resolvers that outlive config reloads: a reload that leaves an issuer unchanged must not
 * throw away its cached JWKS (and cause a fetch burst on every ConfigMap update).
 */
export class IssuerKeyStore {
  readonly #options: IssuerKeysOptions;
  #byId = new Map<string, IssuerKeys>();

  constructor(options: IssuerKeysOptions = {}) {
    this.#options = options;
  }

  get(source: IssuerKeySource): IssuerKeys {
    const id = issuerKeySourceId(source);
    let keys = this.#byId.get(id);
    if (!keys) {
      keys = createIssuerKeys(source, this.#options);
      this.#byId.set(id, keys);
    }
    return keys;
  }

  /** Drops resolvers no longer referenced by the active configuration. */
  retain(sources: readonly IssuerKeySource[]): void {
    const keep = new Set(sources.map(issuerKeySourceId));
    for (const id of this.#byId.keys()) if (!keep.has(id)) this.#byId.delete(id);
  }
}
