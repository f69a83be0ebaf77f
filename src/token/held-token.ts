// A registry token as the Secret cache remembers it: never the token itself (a JWT is ~1 KiB, and
// 50,000 of them are the cache's largest item), only what the reconcile decision reads of it: whether
// it is the same token as another (a digest) and when it is valid (its JWT times).
import { createHash } from 'node:crypto';
import { readJwtTimes, type JwtTimes } from './jwt-times.ts';

export interface HeldToken {
  /** tokenDigest() of the token. */
  readonly digest: string;
  /** Its JWT validity; undefined for an opaque token. */
  readonly times: JwtTimes | undefined;
}

/**
 * The first 16 bytes of SHA-256, base64url (22 characters): enough to tell two tokens apart, and the
 * refresh jitter is read from the same bytes (refresh-time.ts), so a digest alone fixes a token's
 * refresh instant.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url');
}

export function heldToken(token: string): HeldToken {
  return { digest: tokenDigest(token), times: tryReadJwtTimes(token) };
}

export function tryReadJwtTimes(token: string): JwtTimes | undefined {
  try {
    return readJwtTimes(token);
  } catch {
    return undefined;
  }
}
