// The body of a 200 from a Chainguard-protocol STS, as its proto declares it (oidc.platform.proto
// `RawToken`: token, refresh_token, expiry as a protobuf Timestamp in JSON, i.e. RFC 3339) turned into a
// RegistryToken. Pure; the one place that decides which expiry counts.
import { RegcredError } from '../errors.ts';
import { readJwtTimes, type JwtTimes } from '../token/jwt-times.ts';
import { bodyExcerpt } from '../redact.ts';
import type { RegistryToken } from './exchanger.ts';

/** RFC 3339 with a `Z` or numeric offset and optional fractional seconds (protojson writes `Z`). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

/** The `expiry` field as an instant; undefined when absent; StsBadResponse when present but not RFC 3339. */
export function parseExpiry(value: unknown, status: number): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const instant = typeof value === 'string' && RFC3339.test(value) ? new Date(value) : undefined;
  if (!instant || Number.isNaN(instant.getTime())) {
    throw new RegcredError('StsBadResponse', 'STS answered 200 with an "expiry" that is not an RFC 3339 instant', { status });
  }
  return instant;
}

function tryJwtTimes(token: string): JwtTimes | RegcredError {
  try {
    return readJwtTimes(token);
  } catch (error) {
    return error instanceof RegcredError ? error : new RegcredError('RegistryTokenInvalid', 'registry token is not a JWT');
  }
}

/**
 * A RegistryToken from a 200 body. The expiry is the earlier of the JWT's `exp` and `expiry` when both
 * are there (an STS that says "sooner" is believed; a JWT that says sooner is what the registry
 * enforces). A token that is not a JWT is accepted only with `expiry`: without either we cannot know
 * when to refresh. `refresh_token` (or protojson's `refreshToken`) is read past and dropped: the
 * controller always re-exchanges its ServiceAccount token, and a refresh token it does not need is one
 * less secret to hold.
 */
export function parseTokenResponse(body: string, status: number): RegistryToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new RegcredError('StsBadResponse', `STS answered 200 with non-JSON: ${bodyExcerpt(body)}`, { status });
  }
  const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { token?: unknown; expiry?: unknown };
  const token = fields.token;
  if (typeof token !== 'string' || token === '') {
    throw new RegcredError('StsBadResponse', `STS answered 200 without a string "token": ${bodyExcerpt(body)}`, { status });
  }
  const expiry = parseExpiry(fields.expiry, status);
  const times = tryJwtTimes(token);
  if (times instanceof RegcredError) {
    if (expiry === undefined) throw new RegcredError('RegistryTokenInvalid', `STS answered 200 but ${times.message}`, { status });
    // An opaque token: its expiry is whatever the STS said, and nothing else is known about it.
    return { token, expiresAt: expiry };
  }
  if (expiry !== undefined && expiry.getTime() < times.expiresAt.getTime()) return { token, ...times, expiresAt: expiry };
  return { token, ...times };
}
