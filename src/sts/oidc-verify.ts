// Verifies an OIDC JWT from a trusted issuer: signature, `iss`, `aud`, `exp`/`nbf` with a small
// leeway, and an algorithm allow-list. Failures become RegcredErrors whose messages hold no token.
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { RegcredError } from '../errors.ts';
import type { AsymmetricAlgorithm } from './config-schema.ts';
import type { IssuerKeys } from './issuer-keys.ts';
import type { TokenReviewer } from './token-review.ts';
import type { VerifiedTokenCache } from './verified-token-cache.ts';

/** Clock skew tolerated between the issuer and this service. */
export const OIDC_LEEWAY_SECONDS = 30;
/** Real OIDC tokens are a few KB; a bigger "token" is refused before any parsing. */
export const MAX_JWT_LENGTH = 16_384;

export interface TrustedIssuer {
  name: string;
  issuer: string;
  audiences: readonly string[];
  algorithms: readonly AsymmetricAlgorithm[];
  keys: IssuerKeys;
  /**
   * Tokens of this issuer already verified, by hash: a client presenting the same token again (a CI
   * job pulling several images) costs a hash instead of a signature check. Per snapshot, so a reload
   * that changes the issuer's trust starts empty.
   */
  verified?: VerifiedTokenCache<VerifiedOidcToken>;
  /** Ask the apiserver too (`tokenReview: true`): a token bound to a deleted object is refused within seconds. */
  review?: TokenReviewer;
}

export interface VerifiedOidcToken {
  issuer: TrustedIssuer;
  subject: string;
  claims: JWTPayload;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Reads `iss` without trusting it, only to pick which issuer's keys to verify with. Throws
 * CredentialInvalid for anything that is not a JWT with an `iss`.
 */
export function peekIssuer(token: string): string {
  if (token.length > MAX_JWT_LENGTH || !JWT_SHAPE.test(token)) throw invalid('not a JWT');
  let iss: unknown;
  try {
    ({ iss } = decodeJwt(token));
  } catch {
    throw invalid('not a JWT');
  }
  if (typeof iss !== 'string') throw invalid('no issuer');
  return iss;
}

function invalid(reason: string): RegcredError {
  return new RegcredError('CredentialInvalid', `OIDC token refused: ${reason}`, { status: 401 });
}

/** Maps jose's failure to a short reason; jose's messages and payloads are never passed on. */
function classify(err: unknown): RegcredError {
  if (err instanceof RegcredError) return err;
  if (err instanceof joseErrors.JWTExpired) return invalid('expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) return invalid(`claim ${err.claim} ${err.reason === 'check_failed' ? 'not valid' : err.reason}`);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return invalid('algorithm not allowed');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('bad signature');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return invalid('no matching key');
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) {
    return new RegcredError('JwksUnavailable', 'issuer keys unavailable', { status: 503 });
  }
  if (err instanceof joseErrors.JOSEError) return invalid(err.code);
  // Not a jose error: the custom fetch failed (network, TLS, size).
  return new RegcredError('JwksUnavailable', 'issuer keys unavailable', { status: 503 });
}

export async function verifyOidcToken(token: string, issuer: TrustedIssuer, now: Date): Promise<VerifiedOidcToken> {
  if (token.length > MAX_JWT_LENGTH || !JWT_SHAPE.test(token)) throw invalid('not a JWT');
  const nowMs = now.getTime();
  const cached = issuer.verified?.get(token, nowMs);
  if (cached) return cached;
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(token, issuer.keys.getKey, {
      issuer: issuer.issuer,
      audience: [...issuer.audiences],
      algorithms: [...issuer.algorithms],
      clockTolerance: OIDC_LEEWAY_SECONDS,
      currentDate: now,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (err) {
    throw classify(err);
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') throw invalid('no subject');
  // After the signature: only tokens this issuer really signed are sent to the apiserver.
  if (issuer.review) await issuer.review.check(token, issuer.audiences);
  const verified: VerifiedOidcToken = { issuer, subject: claims.sub, claims: Object.freeze(claims) };
  // Until the moment jwtVerify itself would call it expired (a cache hit accepts nothing it would
  // refuse), and with TokenReview no longer than a review answer may be reused.
  const expiresAtMs = (claims.exp! + OIDC_LEEWAY_SECONDS) * 1000;
  issuer.verified?.set(token, verified, issuer.review ? Math.min(expiresAtMs, nowMs + issuer.review.cacheMs) : expiresAtMs);
  return verified;
}
