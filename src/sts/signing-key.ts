// The service's signing key: loaded from PEM, checked against its certificate, and described in
// every form a registry may use to find it (x5c chain, JWK, libtrust kid, RFC 7638 kid).
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { RegcredError } from '../errors.ts';
import type { HeaderStyle } from './config-schema.ts';

/** Only what Distribution 2.8 accepts (it refuses PS256) and 3.x too. */
export type SigningAlgorithm = 'RS256' | 'ES256';

export interface SigningKey {
  alg: SigningAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK without `kid`. */
  publicJwk: JWK;
  /** libtrust key ID, what Distribution 2.8 computes for each key in its rootcertbundle. */
  libtrustKid: string;
  /** RFC 7638 SHA-256 thumbprint, what Distribution 3.x's `jwks` option and /.well-known/jwks.json use. */
  thumbprintKid: string;
  /** Certificate chain, leaf first, base64 DER (the `x5c` form); empty without a certificate file. */
  x5c: string[];
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32NoPadding(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * libtrust's KeyID: SHA-256 of the SPKI DER, first 240 bits, base32 without padding, in groups of
 * four joined by `:` (docker/libtrust util.go keyIDFromCryptoKey).
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const encoded = base32NoPadding(createHash('sha256').update(der).digest().subarray(0, 30));
  return encoded.match(/.{4}/g)!.join(':');
}

function algorithmOf(key: KeyObject): SigningAlgorithm {
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new RegcredError('SigningKeyInvalid', `signing key: RSA keys need at least 2048 bits, got ${bits}`);
    return 'RS256';
  }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new RegcredError('SigningKeyInvalid', 'signing key: must be RSA (RS256) or EC P-256 (ES256)');
}

/** Splits a PEM bundle into its certificates, in file order. */
export function parseCertificateBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

export interface SigningKeyInput {
  keyPem: string;
  /** Leaf first, then intermediates; needed for the `x5c` header style. */
  certificatePem?: string;
}

export async function createSigningKey(input: SigningKeyInput): Promise<SigningKey> {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(input.keyPem);
  } catch {
    throw new RegcredError('SigningKeyInvalid', 'signing key: not a PEM private key');
  }
  const alg = algorithmOf(privateKey);
  const publicKey = createPublicKey(privateKey);
  let x5c: string[] = [];
  if (input.certificatePem !== undefined) {
    let certificates: X509Certificate[];
    try {
      certificates = parseCertificateBundle(input.certificatePem);
    } catch {
      throw new RegcredError('SigningKeyInvalid', 'signing certificate: not a PEM certificate bundle');
    }
    if (certificates.length === 0) throw new RegcredError('SigningKeyInvalid', 'signing certificate: no certificate in the file');
    // A leaf for another key would make every token fail at the registry; refuse at load instead.
    if (!certificates[0]!.publicKey.equals(publicKey)) {
      throw new RegcredError('SigningKeyInvalid', 'signing certificate: the first certificate is not for the signing key');
    }
    x5c = certificates.map((cert) => cert.raw.toString('base64'));
  }
  const publicJwk = await exportJWK(publicKey);
  return {
    alg,
    privateKey,
    publicKey,
    publicJwk,
    libtrustKid: libtrustKeyId(publicKey),
    thumbprintKid: await calculateJwkThumbprint(publicJwk, 'sha256'),
    x5c,
  };
}

/** The JWS protected header for a registry token in the chosen style. */
export function tokenHeader(key: SigningKey, style: HeaderStyle): Record<string, unknown> {
  const base = { typ: 'JWT', alg: key.alg };
  switch (style) {
    case 'x5c':
      return { ...base, x5c: key.x5c };
    case 'jwk':
      // libtrust checks an embedded `kid` against its own KeyID, so it must be the libtrust form.
      return { ...base, jwk: { ...key.publicJwk, kid: key.libtrustKid } };
    case 'kid':
      return { ...base, kid: key.libtrustKid };
    case 'jwks':
      return { ...base, kid: key.thumbprintKid };
  }
}

/** The document served at /.well-known/jwks.json. */
export function publicJwks(key: SigningKey): { keys: JWK[] } {
  return { keys: [{ ...key.publicJwk, kid: key.thumbprintKid, alg: key.alg, use: 'sig' }] };
}
