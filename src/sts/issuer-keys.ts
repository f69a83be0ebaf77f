// Verification keys of one trusted OIDC issuer: a static JWKS, or discovery + a JWKS fetched in the
// background and kept. The last keys fetched keep verifying while the issuer is unreachable, up to
// `maxStaleMs` after the last successful fetch; a token with an unknown `kid` triggers a refetch at
// once, at most once per cooldown. Never a fetch per request.
import { createLocalJWKSet, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { readFileSync } from 'node:fs';
import { RegcredError } from '../errors.ts';
import { createHttpsFetch, type FetchLike } from './https-fetch.ts';

/** Defaults, documented in docs/sts.md ("Trust and caching of issuer keys"). */
export const ISSUER_KEY_DEFAULTS = {
  /** Keys older than this are refreshed in the background (requests keep using them meanwhile). */
  refreshMs: 600_000,
  /** How long the last keys fetched stay usable while every refresh fails. */
  maxStaleMs: 6 * 3_600_000,
  /** Minimum time between fetches caused by unknown `kid`s. */
  cooldownMs: 30_000,
  /** After a failed fetch, the next background or first-token fetch waits this long. */
  discoveryRetryMs: 10_000,
  timeoutMs: 5_000,
} as const;

export interface IssuerKeySource {
  /** The issuer URL (`iss`). */
  issuer: string;
  /** Static JWKS; when set, nothing is fetched. */
  jwks?: { keys: unknown[] };
  /** PEM CA bundle for discovery and JWKS fetches. */
  caPem?: string;
  /** A file holding a bearer token sent with discovery and JWKS fetches (e.g. a projected ServiceAccount token). */
  bearerTokenFile?: string;
  /** Overrides ISSUER_KEY_DEFAULTS.maxStaleMs for this issuer. */
  maxStaleMs?: number;
}

export type KeyFetchResult = 'success' | 'failure';

export interface IssuerKeysOptions {
  cooldownMs?: number;
  refreshMs?: number;
  maxStaleMs?: number;
  discoveryRetryMs?: number;
  timeoutMs?: number;
  /** Injected for tests; default: node:https with the source's CA. */
  fetch?: FetchLike;
  now?: () => number;
  /** The Authorization header for fetches (from `bearerTokenFile`); undefined = anonymous. */
  authorization?: () => Promise<string | undefined>;
  /** Every fetch's outcome, for logs and metrics; `reason` is token-free. */
  onFetch?: (issuer: string, result: KeyFetchResult, reason?: string) => void;
}

export interface IssuerKeys {
  readonly getKey: JWTVerifyGetKey;
}

function unavailable(message: string): RegcredError {
  return new RegcredError('JwksUnavailable', message, { status: 503 });
}

async function getJson(fetch: FetchLike, url: string, authorization: string | undefined, what: string, accept = 'application/json'): Promise<unknown> {
  try {
    const res = await fetch(url, { headers: { accept, ...(authorization ? { authorization } : {}) } });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    return await res.json();
  } catch (err) {
    throw unavailable(`${what} failed: ${(err as Error).message}`);
  }
}

/** Discovery, then the JWKS it names; both checked, so a bad answer never replaces good keys. */
async function fetchKeys(issuer: string, fetch: FetchLike, authorization: string | undefined): Promise<JWTVerifyGetKey> {
  const doc = await getJson(fetch, issuer.replace(/\/$/, '') + '/.well-known/openid-configuration', authorization, `OIDC discovery for ${issuer}`);
  const { issuer: advertised, jwks_uri: jwksUri } = (doc ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
  // OIDC Discovery §4.3: the document must name the very issuer it was fetched for.
  if (advertised !== issuer) throw unavailable(`OIDC discovery for ${issuer} names another issuer`);
  if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://')) throw unavailable(`OIDC discovery for ${issuer} has no https jwks_uri`);
  // The credential goes to the jwks_uri too: the issuer's own (authenticated, TLS) document named it.
  // The apiserver answers its JWKS only to clients that accept application/jwk-set+json (406 otherwise).
  const jwks = await getJson(fetch, jwksUri, authorization, `JWKS fetch for ${issuer}`, 'application/jwk-set+json, application/json');
  try {
    return createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
  } catch {
    throw unavailable(`JWKS of ${issuer} is not a JWKS`);
  }
}

/** Builds the key resolver; the first fetch runs on the first token, so a down issuer never blocks startup. */
export function createIssuerKeys(source: IssuerKeySource, options: IssuerKeysOptions = {}): IssuerKeys {
  if (source.jwks) return { getKey: createLocalJWKSet(source.jwks as Parameters<typeof createLocalJWKSet>[0]) };
  const timeoutMs = options.timeoutMs ?? ISSUER_KEY_DEFAULTS.timeoutMs;
  const fetch = options.fetch ?? createHttpsFetch({ ...(source.caPem ? { caPem: source.caPem } : {}), timeoutMs });
  const now = options.now ?? Date.now;
  const refreshMs = options.refreshMs ?? ISSUER_KEY_DEFAULTS.refreshMs;
  const maxStaleMs = Math.max(refreshMs, source.maxStaleMs ?? options.maxStaleMs ?? ISSUER_KEY_DEFAULTS.maxStaleMs);
  const cooldownMs = options.cooldownMs ?? ISSUER_KEY_DEFAULTS.cooldownMs;
  const retryMs = options.discoveryRetryMs ?? ISSUER_KEY_DEFAULTS.discoveryRetryMs;

  let keys: { getKey: JWTVerifyGetKey; fetchedAt: number } | undefined;
  let lastAttemptAt = -Infinity;
  let failure: { error: RegcredError; at: number } | undefined;
  let inflight: Promise<void> | undefined;

  // One fetch at a time: concurrent first requests, background refreshes and unknown kids share it.
  function refetch(): Promise<void> {
    inflight ??= (async () => {
      lastAttemptAt = now();
      try {
        const getKey = await fetchKeys(source.issuer, fetch, await options.authorization?.());
        keys = { getKey, fetchedAt: now() };
        failure = undefined;
        options.onFetch?.(source.issuer, 'success');
      } catch (err) {
        const error = err instanceof RegcredError ? err : unavailable(`issuer keys of ${source.issuer} unavailable`);
        failure = { error, at: now() };
        options.onFetch?.(source.issuer, 'failure', error.message);
        throw error;
      }
    })().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  const mayRetry = (t: number) => !failure || t - failure.at >= retryMs;

  async function currentKeys(): Promise<JWTVerifyGetKey> {
    const t = now();
    if (keys && t - keys.fetchedAt < maxStaleMs) {
      // Due for a refresh: start one and answer from the keys at hand.
      if (t - keys.fetchedAt >= refreshMs && !inflight && mayRetry(t)) refetch().catch(() => undefined);
      return keys.getKey;
    }
    // No keys yet, or too old to trust: this request waits for a fetch (a dead issuer is not hammered).
    if (!inflight && !mayRetry(t)) throw failure!.error;
    await refetch();
    return keys!.getKey;
  }

  return {
    async getKey(header, token) {
      const getKey = await currentKeys();
      try {
        return await getKey(header, token);
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || now() - lastAttemptAt < cooldownMs) throw err;
        // An unknown kid: the issuer may have rotated keys. Refetch now, then try once more.
        await refetch();
        return keys!.getKey(header, token);
      }
    },
  };
}

/** Identifies a key source, so reloads keep the caches of issuers whose trust did not change. */
export function issuerKeySourceId(source: IssuerKeySource): string {
  return JSON.stringify([source.issuer, source.jwks ?? null, source.caPem ?? null, source.bearerTokenFile ?? null, source.maxStaleMs ?? null]);
}

/**
 * KubeConfig's token-file auth (kube-config.ts), loaded on the first fetch: an sts without such an
 * issuer never loads client-node (tens of MiB of its 64 MiB goal). The file must be readable now.
 */
function defaultCredentials(path: string): () => Promise<string | undefined> {
  const what = `bearerTokenFile ${path}`;
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new Error(`${what}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (token === '') throw new Error(`${what}: the file is empty`);
  let source: Promise<() => Promise<string | undefined>> | undefined;
  return async () => (await (source ??= import('../kube/kube-config.ts').then((m) => m.tokenFileAuthorization(path, what))))();
}

/**
 * Key resolvers that outlive config reloads: a reload that leaves an issuer unchanged must not
 * throw away its cached JWKS (and cause a fetch burst on every ConfigMap update).
 */
export class IssuerKeyStore {
  readonly #options: IssuerKeysOptions;
  readonly #credentials: (path: string) => () => Promise<string | undefined>;
  #byId = new Map<string, IssuerKeys>();

  /**
   * `credentials` turns a bearer token file into an Authorization source; it throws when the file
   * cannot be read. Default: read at once, re-read once a minute (a projected token rotates).
   */
  constructor(options: IssuerKeysOptions = {}, credentials: (path: string) => () => Promise<string | undefined> = defaultCredentials) {
    this.#options = options;
    this.#credentials = credentials;
  }

  get(source: IssuerKeySource): IssuerKeys {
    const id = issuerKeySourceId(source);
    let keys = this.#byId.get(id);
    if (!keys) {
      const authorization = source.bearerTokenFile ? this.#credentials(source.bearerTokenFile) : undefined;
      keys = createIssuerKeys(source, { ...this.#options, ...(authorization ? { authorization } : {}) });
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
