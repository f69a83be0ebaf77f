// The validity instants of a compact JWT, decoded but NOT verified: the registry verifies its own
// tokens; we only need `exp` to know when to refresh. Decoded by jose's `decodeJwt` from its
// `jose/jwt/decode` subpath: unbundled it costs 4 MiB of RSS where jose's main entry costs 14 MiB;
// in the esbuild bundle both are the same 2 KB (docs/controller.md, "Design notes").
import { decodeJwt } from 'jose/jwt/decode';
import { RegcredError } from '../errors.ts';

/**
 * The claims of a compact JWS (`header.payload.signature`), NOT verified; throws a plain Error that
 * never quotes the token on any other shape. The credential provider reads a ServiceAccount token's
 * `sub` and `aud` with it, only to choose and explain: the STS verifies.
 */
export function decodeClaims(token: string): Record<string, unknown> {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
  } catch {
    // jose's messages name the problem, not the token; ours stays one fixed sentence all the same.
    throw new Error('not a compact JWS');
  }
  if (Array.isArray(claims)) throw new Error('claims are not an object');
  return claims;
}

export interface JwtTimes {
  issuedAt?: Date;
  expiresAt: Date;
  notBefore?: Date;
}

function instant(seconds: unknown): Date | undefined {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return undefined;
  const date = new Date(seconds * 1000);
  return Number.isFinite(date.getTime()) ? date : undefined;
}

/**
 * `iat`, `exp` and `nbf` of `token`. Throws RegistryTokenInvalid when it is not a compact JWS with a
 * numeric `exp`; the message never contains the token, nor a parser's message (which could quote it).
 */
export function readJwtTimes(token: string): JwtTimes {
  let claims: Record<string, unknown>;
  try {
    claims = decodeClaims(token);
  } catch {
    throw new RegcredError('RegistryTokenInvalid', 'registry token is not a JWT');
  }
  const expiresAt = instant(claims.exp);
  if (!expiresAt) throw new RegcredError('RegistryTokenInvalid', 'registry token has no numeric exp claim');
  const times: JwtTimes = { expiresAt };
  const issuedAt = instant(claims.iat);
  if (issuedAt) times.issuedAt = issuedAt;
  const notBefore = instant(claims.nbf);
  if (notBefore) times.notBefore = notBefore;
  return times;
}

/** The `jti` claim of a compact JWT (for logs: it identifies a token without revealing it); undefined if none. */
export function readJwtId(token: string): string | undefined {
  try {
    const jti = decodeClaims(token).jti;
    return typeof jti === 'string' && jti.length <= 128 ? jti : undefined;
  } catch {
    return undefined;
  }
}
