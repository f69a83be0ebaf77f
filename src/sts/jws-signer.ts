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

/**
 * An ECDSA DER signature (SEQUENCE { INTEGER r, INTEGER s }) as the fixed-size r||s that JWS wants
 * (RFC 7518 §3.4). Done here because node's own `dsaEncoding: 'ieee-p1363'` option takes the
 * options-object path of sign(), which measured 2-2.5x the CPU of signing with the bare KeyObject.
 */
export function derToJoseSignature(der: Buffer, size = 32): Buffer {
  // P-256 signatures are at most 72 bytes, so every length here is one byte (short form).
  if (der[0] !== 0x30 || der[2] !== 0x02) throw new Error('not a DER ECDSA signature');
  const out = Buffer.alloc(2 * size);
  let at = 2;
  for (let i = 0; i < 2; i++) {
    if (der[at] !== 0x02) throw new Error('not a DER ECDSA signature');
    const length = der[at + 1]!;
    let start = at + 2;
    let end = start + length;
    // DER integers carry a leading 0x00 when the high bit is set, and drop leading zero bytes.
    while (end - start > size && der[start] === 0) start++;
    if (end - start > size) throw new Error('not a P-256 signature');
    der.copy(out, (i + 1) * size - (end - start), start, end);
    at = end;
  }
  return out;
}

export function createJwsSigner(key: SigningKey, style: HeaderStyle): JwsSigner {
  const header = Buffer.from(JSON.stringify(tokenHeader(key, style))).toString('base64url');
  const es256 = key.alg === 'ES256';
  return {
    alg: key.alg,
    sign(payload) {
      const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      // RS256 is PKCS#1 v1.5, node's default for RSA keys.
      const signature = sign('sha256', Buffer.from(input), key.privateKey);
      return `${input}.${(es256 ? derToJoseSignature(signature) : signature).toString('base64url')}`;
    },
  };
}
