// The validity instants of a compact JWT, decoded but NOT verified: the registry verifies its own
// tokens; we only need `exp` to know when to refresh.
import { decodeJwt } from 'jose';
import { RegcredError } from '../errors.ts';

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
 * numeric `exp`; the message never contains the token (nor jose's, whose messages are generic anyway).
 */
export function readJwtTimes(token: string): JwtTimes {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
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
