// The keys registry tokens may be signed with: the token service's certificate or public key from a
// PEM file, a JWKS file, or its /.well-known/jwks.json (cached by jose, refetched for an unknown key
// at most once per cooldown). A token's own x5c/jwk/kid header only *selects* among these keys; a key
// a token carries is never trusted because it carries it.
import { createPublicKey, X509Certificate, type JsonWebKey as NodeJsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, createRemoteJWKSet, exportJWK, type JWK, type JWTHeaderParameters } from 'jose';
import { RegcredError } from '../errors.ts';
import { libtrustKeyId, parseCertificateBundle, type SigningAlgorithm } from '../sts/signing-key.ts';

export interface TrustedKey {
  alg: SigningAlgorithm;
  key: KeyObject;
  /** RFC 7638 thumbprint: the `kid` of the `jwks` header style and of /.well-known/jwks.json. */
  thumbprint: string;
  /** libtrust key ID: the `kid` of the `kid` and `jwk` header styles. */
  libtrustKid: string;
}

export interface TrustedKeySource {
  /** The keys as last loaded (loading them first if needed). */
  current(): Promise<readonly TrustedKey[]>;
  /** After a token named a key not among them: reload if allowed now, else the same keys. */
  refresh(): Promise<readonly TrustedKey[]>;
}

function algorithmOf(key: KeyObject): SigningAlgorithm | undefined {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

async function describe(key: KeyObject): Promise<TrustedKey | undefined> {
  const alg = algorithmOf(key);
  if (!alg) return undefined;
  const jwk = await exportJWK(key);
  return { alg, key, thumbprint: await calculateJwkThumbprint(jwk, 'sha256'), libtrustKid: libtrustKeyId(key) };
}

async function describeAll(keys: readonly KeyObject[], where: string): Promise<TrustedKey[]> {
  const described = (await Promise.all(keys.map(describe))).filter((key): key is TrustedKey => key !== undefined);
  if (described.length === 0) throw new RegcredError('ConfigInvalid', `${where}: no RSA or EC P-256 public key found`);
  return described;
}

/** Keys from PEM text: certificates (the sts's signing certificate) and/or `PUBLIC KEY` blocks. */
export async function keysFromPem(pem: string, where = 'token keys'): Promise<TrustedKey[]> {
  const keys: KeyObject[] = [];
  try {
    for (const certificate of parseCertificateBundle(pem)) keys.push(certificate.publicKey);
    for (const block of pem.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? []) keys.push(createPublicKey(block));
  } catch {
    throw new RegcredError('ConfigInvalid', `${where}: unreadable PEM`);
  }
  return describeAll(keys, where);
}

/** Keys of a JWKS document; private members, if any, are ignored. */
export async function keysFromJwks(jwks: unknown, where = 'token keys'): Promise<TrustedKey[]> {
  const list = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new RegcredError('ConfigInvalid', `${where}: not a JWKS ({"keys": [...]})`);
  const keys: KeyObject[] = [];
  for (const jwk of list as JWK[]) {
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    const { kty, n, e, crv, x, y } = jwk;
    try {
      keys.push(createPublicKey({ key: { kty, n, e, crv, x, y } as NodeJsonWebKey, format: 'jwk' }));
    } catch {
      // One unusable entry (another key type) does not spoil the others.
    }
  }
  return describeAll(keys, where);
}

export function staticKeySource(keys: readonly TrustedKey[]): TrustedKeySource {
  const promise = Promise.resolve(keys);
  return { current: () => promise, refresh: () => promise };
}

export interface RemoteKeyOptions {
  /** Minimum time between fetches caused by tokens naming unknown keys. */
  cooldownMs?: number;
  /** Keys are refetched at most this old. */
  maxAgeMs?: number;
  timeoutMs?: number;
}

/** The token service's JWKS URL (http inside a cluster, or https), cached by jose's remote key set. */
export function remoteKeySource(url: URL, options: RemoteKeyOptions = {}): TrustedKeySource {
  const remote = createRemoteJWKSet(url, {
    cooldownDuration: options.cooldownMs ?? 30_000,
    cacheMaxAge: options.maxAgeMs ?? 300_000,
    timeoutDuration: options.timeoutMs ?? 5_000,
  });
  // jose only fetches when we call reload() (its resolver function is never used), so the converted
  // keys stay valid until the next reload.
  let converted: Promise<TrustedKey[]> | undefined;
  const load = async (force: boolean): Promise<readonly TrustedKey[]> => {
    if (!remote.fresh || (force && !remote.coolingDown)) {
      try {
        await remote.reload();
        converted = undefined;
      } catch (err) {
        // Stale keys beat no keys while the token service is briefly away.
        if (converted === undefined) throw new RegcredError('JwksUnavailable', 'token service keys unavailable', { status: 503, cause: err });
      }
    }
    converted ??= keysFromJwks(remote.jwks(), String(url));
    return converted;
  };
  return { current: () => load(false), refresh: () => load(true) };
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.type === b.type && a.equals(b);
}

function embeddedKey(header: JWTHeaderParameters): KeyObject | undefined {
  try {
    if (Array.isArray(header.x5c) && typeof header.x5c[0] === 'string') {
      return new X509Certificate(Buffer.from(header.x5c[0], 'base64')).publicKey;
    }
    if (header.jwk && typeof header.jwk === 'object') {
      const { kty, n, e, crv, x, y } = header.jwk;
      return createPublicKey({ key: { kty, n, e, crv, x, y } as NodeJsonWebKey, format: 'jwk' });
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * The trusted key a token header points at, for every header style the token service writes:
 * x5c (leaf certificate's key), jwk (embedded key), kid (libtrust form or RFC 7638 thumbprint),
 * or, with none of those, the only trusted key of the header's algorithm.
 */
export function selectKey(keys: readonly TrustedKey[], header: JWTHeaderParameters): TrustedKey | undefined {
  const candidates = keys.filter((key) => key.alg === header.alg);
  const embedded = embeddedKey(header);
  if (header.x5c !== undefined || header.jwk !== undefined) {
    return embedded ? candidates.find((key) => sameKey(key.key, embedded)) : undefined;
  }
  if (typeof header.kid === 'string') return candidates.find((key) => key.thumbprint === header.kid || key.libtrustKid === header.kid);
  return candidates.length === 1 ? candidates[0] : undefined;
}
