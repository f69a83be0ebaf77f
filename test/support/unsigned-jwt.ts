// Compact JWTs with chosen claims for pure-logic tests. Unsigned (a fixed fake signature): the code
// under test decodes tokens, it never verifies them.
import { randomUUID } from 'node:crypto';

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function unsignedJwt(claims: Record<string, unknown>): string {
  return `${b64url({ alg: 'ES256', typ: 'JWT' })}.${b64url(claims)}.${Buffer.from('not-a-signature').toString('base64url')}`;
}

/** A token valid from `issuedAt` for `lifetimeSeconds`, unique by `jti`. */
export function tokenFor(issuedAt: Date, lifetimeSeconds: number, extra: Record<string, unknown> = {}): string {
  const iat = Math.floor(issuedAt.getTime() / 1000);
  return unsignedJwt({ iat, exp: iat + lifetimeSeconds, jti: randomUUID(), ...extra });
}
