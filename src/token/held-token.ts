// A registry token as the Secret cache remembers it: never the token itself (a JWT is ~1 KiB, and
// 50,000 of them are the cache's largest item), only what the reconcile decision reads of it: whether
// it is the same token as another (a digest) and when it is valid (its JWT times).
import { createHash } from 'node:crypto';
import { readJwtTimes, type JwtTimes } from './jwt-times.ts';

export interface HeldToken {
  /** tokenDigest() of the token. */
  readonly digest: string;
  /**
   * Its JWT validity as epoch milliseconds (heldTimes() gives the JwtTimes); expMs undefined: an opaque
   * token. Numbers rather than Dates: three fields instead of an object and two Dates per Secret.
   */
  readonly expMs: number | undefined;
  readonly iatMs: number | undefined;
  readonly nbfMs: number | undefined;
}

/**
 * The digests of the last tokens seen, oldest first out. One token is written to all the Secrets of its
 * identity, and each write asks for its digest four times (decide, the due-on-arrival check, the
 * own-write record, the refresh instant): about 10 µs of SHA-256 per write, for a string the map finds
 * in well under one.
 */
const recentDigests = new Map<string, string>();
const RECENT_DIGESTS = 32;

/**
 * The first 16 bytes of SHA-256, base64url (22 characters): enough to tell two tokens apart, and the
 * refresh jitter is read from the same bytes (refresh-time.ts), so a digest alone fixes a token's
 * refresh instant.
 */
export function tokenDigest(token: string): string {
  const known = recentDigests.get(token);
  if (known !== undefined) return known;
  const digest = createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url');
  recentDigests.set(token, digest);
  if (recentDigests.size > RECENT_DIGESTS) recentDigests.delete(recentDigests.keys().next().value!);
  return digest;
}

export function heldToken(token: string): HeldToken {
  const times = tryReadJwtTimes(token);
  return { digest: tokenDigest(token), expMs: times?.expiresAt.getTime(), iatMs: times?.issuedAt?.getTime(), nbfMs: times?.notBefore?.getTime() };
}

/** The held token's JWT times, as readJwtTimes() gave them; undefined for an opaque token. */
export function heldTimes(held: HeldToken): JwtTimes | undefined {
  if (held.expMs === undefined) return undefined;
  const times: JwtTimes = { expiresAt: new Date(held.expMs) };
  if (held.iatMs !== undefined) times.issuedAt = new Date(held.iatMs);
  if (held.nbfMs !== undefined) times.notBefore = new Date(held.nbfMs);
  return times;
}

export function tryReadJwtTimes(token: string): JwtTimes | undefined {
  try {
    return readJwtTimes(token);
  } catch {
    return undefined;
  }
}
