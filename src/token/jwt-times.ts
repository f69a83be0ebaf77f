// The validity instants of a compact JWT, decoded but NOT verified: the registry verifies its own
// tokens; we only need `exp` to know when to refresh. Decoded here rather than with jose, which the
// controller would otherwise load (about 14 MiB of RSS) for these few lines.
import { RegcredError } from '../errors.ts';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The claims of a compact JWS (`header.payload.signature`), NOT verified; throws a plain Error that
 * never quotes the token on any other shape. The credential provider reads a ServiceAccount token's
 * `sub` and `aud` with it, only to choose and explain: the STS verifies.
 */
export function decodeClaims(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) throw new Error('not a compact JWS');
  const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new Error('claims are not an object');
  return claims as Record<string, unknown>;
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
