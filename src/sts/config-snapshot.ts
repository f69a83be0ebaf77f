// Turns the configuration file into what requests use: validated policy, compiled identities, the
// loaded signing key and issuer key resolvers. Built whole and swapped whole, so a request sees one
// consistent configuration from start to end.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { RegcredError } from '../errors.ts';
import { validateStsConfig, type StsConfig } from './config-schema.ts';
import { compileIdentity, type Identity } from './identities.ts';
import type { IssuerKeySource, IssuerKeyStore } from './issuer-keys.ts';
import type { TrustedIssuer } from './oidc-verify.ts';
import type { ExchangeCredential, TokenIssuerSettings } from './registry-token.ts';
import { createJwsSigner } from './jws-signer.ts';
import { createSigningKey, publicJwks } from './signing-key.ts';
import type { TokenReviewer } from './token-review.ts';
import { VerifiedTokenCache } from './verified-token-cache.ts';

const MAX_FILE_BYTES = 1_048_576;

export interface StsConfigSnapshot {
  config: StsConfig;
  issuersByUrl: ReadonlyMap<string, TrustedIssuer>;
  issuersByName: ReadonlyMap<string, TrustedIssuer>;
  identities: readonly Identity[];
  identitiesByUid: ReadonlyMap<string, Identity>;
  tokens: TokenIssuerSettings;
  /** Per snapshot on purpose: a new signing key must not honour verifications made with the old one. */
  exchangeCache: VerifiedTokenCache<ExchangeCredential & { audience: unknown }>;
  jwks: ReturnType<typeof publicJwks>;
  keySources: IssuerKeySource[];
  /** Hash of the config file and every file it references; equal hashes mean nothing to reload. */
  fingerprint: string;
  /** Every file the snapshot was built from, for the watcher. */
  files: string[];
}

export interface LoadConfigSnapshotOptions {
  keyStore: IssuerKeyStore;
  exchangeCacheEntries?: number;
  /** Verified OIDC tokens kept per issuer (raw-OIDC /token and /sts/exchange). */
  oidcCacheEntries?: number;
  /** The apiserver's TokenReview, for issuers with `tokenReview: true`; throws when there is no apiserver to ask. */
  tokenReviewer?: () => TokenReviewer | Promise<TokenReviewer>;
}

async function readInput(path: string, field: string, fingerprint: ReturnType<typeof createHash>): Promise<string> {
  let text: string;
  try {
    const buffer = await readFile(path);
    if (buffer.length > MAX_FILE_BYTES) throw new Error('larger than 1 MiB');
    text = buffer.toString('utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new RegcredError('ConfigInvalid', `${field}: cannot read ${path} (${reason})`);
  }
  fingerprint.update(path).update('\0').update(text).update('\0');
  return text;
}

/** Reads, validates and compiles the configuration at `configPath`. Throws RegcredError ConfigInvalid/SigningKeyInvalid. */
export async function loadConfigSnapshot(configPath: string, options: LoadConfigSnapshotOptions): Promise<StsConfigSnapshot> {
  const fingerprint = createHash('sha256');
  const files = [resolve(configPath)];
  const text = await readInput(configPath, 'configuration', fingerprint);
  let document: unknown;
  try {
    document = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new RegcredError('ConfigInvalid', `configuration: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const config = validateStsConfig(document);
  // Relative paths in the file are relative to the file, as a ConfigMap user would expect.
  const base = dirname(resolve(configPath));
  const path = (p: string): string => {
    const absolute = resolve(base, p);
    files.push(absolute);
    return absolute;
  };

  const keyPem = await readInput(path(config.signing.keyFile), 'signing.keyFile', fingerprint);
  const certificatePem = config.signing.certificateFile
    ? await readInput(path(config.signing.certificateFile), 'signing.certificateFile', fingerprint)
    : undefined;
  const key = await createSigningKey({ keyPem, ...(certificatePem !== undefined ? { certificatePem } : {}) });

  const issuersByUrl = new Map<string, TrustedIssuer>();
  const issuersByName = new Map<string, TrustedIssuer>();
  const keySources: IssuerKeySource[] = [];
  for (const [i, issuer] of config.issuers.entries()) {
    const where = `issuers[${i}]`;
    const caPem = issuer.caFile ? await readInput(path(issuer.caFile), `${where}.caFile`, fingerprint) : undefined;
    let jwks = issuer.jwks;
    if (issuer.jwksFile) {
      const raw = await readInput(path(issuer.jwksFile), `${where}.jwksFile`, fingerprint);
      try {
        jwks = JSON.parse(raw) as { keys: unknown[] };
      } catch {
        throw new RegcredError('ConfigInvalid', `${where}.jwksFile: not JSON`);
      }
    }
    if (jwks !== undefined && (!Array.isArray(jwks.keys) || jwks.keys.length === 0)) {
      throw new RegcredError('ConfigInvalid', `${where}: the JWKS has no keys`);
    }
    const source: IssuerKeySource = {
      issuer: issuer.issuer,
      ...(jwks ? { jwks } : {}),
      ...(caPem ? { caPem } : {}),
      // Read by the key store (and again as it rotates), never hashed into the fingerprint: a rotated token is no new configuration.
      ...(issuer.bearerTokenFile ? { bearerTokenFile: resolve(base, issuer.bearerTokenFile) } : {}),
      ...(issuer.keysMaxStaleMs !== undefined ? { maxStaleMs: issuer.keysMaxStaleMs } : {}),
    };
    let keys;
    try {
      keys = options.keyStore.get(source);
    } catch (err) {
      const what = source.jwks ? 'unusable JWKS' : 'unusable issuer settings';
      throw new RegcredError('ConfigInvalid', `${where}: ${what}: ${(err as Error).message}`);
    }
    keySources.push(source);
    let review: TokenReviewer | undefined;
    if (issuer.tokenReview) {
      try {
        if (!options.tokenReviewer) throw new Error('no Kubernetes API configured');
        review = await options.tokenReviewer();
      } catch (err) {
        throw new RegcredError('ConfigInvalid', `${where}.tokenReview: cannot reach the apiserver: ${(err as Error).message}`);
      }
    }
    const trusted: TrustedIssuer = {
      name: issuer.name,
      issuer: issuer.issuer,
      audiences: issuer.audiences,
      algorithms: issuer.algorithms,
      keys,
      verified: new VerifiedTokenCache({ maxEntries: options.oidcCacheEntries ?? 1_000 }),
      ...(review ? { review } : {}),
    };
    issuersByUrl.set(issuer.issuer, trusted);
    issuersByName.set(issuer.name, trusted);
  }

  const identities = config.identities.map(compileIdentity);
  return {
    config,
    issuersByUrl,
    issuersByName,
    identities,
    identitiesByUid: new Map(identities.map((identity) => [identity.uid, identity])),
    tokens: { key, headerStyle: config.signing.headerStyle, signer: createJwsSigner(key, config.signing.headerStyle), tokenIssuer: config.tokenIssuer, service: config.service },
    exchangeCache: new VerifiedTokenCache({ maxEntries: options.exchangeCacheEntries ?? 10_000 }),
    jwks: publicJwks(key),
    keySources,
    fingerprint: fingerprint.digest('hex'),
    files,
  };
}
