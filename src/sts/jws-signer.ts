// Compact JWS signing for registry tokens with node:crypto, synchronously. Profiled under load (bench/
// results/sts-token.md), jose's SignJWT spent most of a token's CPU in WebCrypto's per-call machinery
// (job promises, structuredClone, algorithm normalisation) and re-encoded the same header every time:
// here the header segment is encoded once per key, and one sign() call does the rest.
import { sign } from 'node:crypto';
import type { HeaderStyle } from './config-schema.ts';
import { tokenHeader, type SigningKey } from './signing-key.ts';

export interface JwsSigner {
  readonly alg: SigningKey['alg'];
  /** `header.payload.signature`, base64url, for any JSON payload. */
  sign(payload: Readonly<Record<string, unknown>>): string;
}

export function createJwsSigner(key: SigningKey, style: HeaderStyle): JwsSigner {
  const header = Buffer.from(JSON.stringify(tokenHeader(key, style))).toString('base64url');
  // JWS ES256 is the raw r||s pair (RFC 7518 §3.4), not node's default DER; RS256 is PKCS#1 v1.5.
  const options = key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const } : key.privateKey;
  return {
    alg: key.alg,
    sign(payload) {
      const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      return `${input}.${sign('sha256', Buffer.from(input), options).toString('base64url')}`;
    },
  };
}
