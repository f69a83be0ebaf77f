// Verifies the registry tokens `kube-regcred sts` issues, as Distribution's token auth does: signature
// by a trusted key (RS256/ES256 only), `iss`, `aud` = this registry's service, `exp`/`nbf` with 60 s
// leeway. Successful verifications are cached by the token's hash until it expires.
import { errors as joseErrors, jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { RegcredError } from '../errors.ts';
import { MAX_JWT_LENGTH } from '../sts/oidc-verify.ts';
import { EXCHANGE_CLAIM } from '../sts/registry-token.ts';
import { VerifiedTokenCache } from '../sts/verified-token-cache.ts';
import { parseAccessClaim, type TokenAccess } from './access.ts';
import { selectKey, type TrustedKeySource } from './trusted-keys.ts';

/** What Distribution 2.8 and 3.x tolerate. */
export const REGISTRY_LEEWAY_SECONDS = 60;

export interface VerifiedRegistryToken {
  subject: string;
  access: TokenAccess;
  expiresAt: Date;
}

export interface RegistryTokenVerifierOptions {
  /** `iss` the token must carry: the sts's `tokenIssuer`. */
  issuer: string;
  /** `aud` the token must carry: the sts's `service`, this registry's name. */
  service: string;
  keys: TrustedKeySource;
  cacheEntries?: number;
}

export type RegistryTokenVerifier = (token: string, now: Date) => Promise<VerifiedRegistryToken>;

function refused(reason: string): RegcredError {
  return new RegcredError('CredentialInvalid', `registry token refused: ${reason}`, { status: 401 });
}

function classify(err: unknown): RegcredError {
  if (err instanceof RegcredError) return err;
  if (err instanceof joseErrors.JWTExpired) return refused('expired');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return new RegcredError('AudienceInvalid', 'registry token refused: issued for another registry', { status: 401 });
    return refused(`claim ${err.claim} ${err.reason === 'check_failed' ? 'not valid' : err.reason}`);
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return refused('algorithm not allowed');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return refused('bad signature');
  if (err instanceof joseErrors.JOSEError) return refused(err.code);
  return new RegcredError('JwksUnavailable', 'token service keys unavailable', { status: 503, cause: err });
}

export function createRegistryTokenVerifier(options: RegistryTokenVerifierOptions): RegistryTokenVerifier {
  const cache = new VerifiedTokenCache<VerifiedRegistryToken>({ maxEntries: options.cacheEntries ?? 10_000 });
  const getKey = async (header: JWTHeaderParameters) => {
    const key = selectKey(await options.keys.current(), header) ?? selectKey(await options.keys.refresh(), header);
    if (!key) throw refused('not signed by a trusted key');
    return key.key;
  };
  return async (token, now) => {
    const nowMs = now.getTime();
    const cached = cache.get(token, nowMs);
    if (cached) return cached;
    if (token.length > MAX_JWT_LENGTH) throw refused('too long');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
        issuer: options.issuer,
        audience: options.service,
        algorithms: ['RS256', 'ES256'],
        clockTolerance: REGISTRY_LEEWAY_SECONDS,
        currentDate: now,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw classify(err);
    }
    // An exchange token is a credential for the sts's /token, never one for the registry.
    if (payload[EXCHANGE_CLAIM] === true) throw refused('an exchange token is not a registry token');
    const verified: VerifiedRegistryToken = {
      subject: typeof payload.sub === 'string' ? payload.sub : '',
      access: parseAccessClaim(payload.access),
      expiresAt: new Date(payload.exp! * 1000),
    };
    cache.set(token, verified, (payload.exp! + REGISTRY_LEEWAY_SECONDS) * 1000);
    return verified;
  };
}
