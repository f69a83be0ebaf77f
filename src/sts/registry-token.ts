// Registry tokens: minting (for /sts/exchange and /token) and verifying the service's own exchange
// tokens when they come back as the `_token` password.
import { randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { RegcredError } from '../errors.ts';
import type { HeaderStyle } from './config-schema.ts';
import type { AccessEntry } from './scope.ts';
import { createJwsSigner, type JwsSigner } from './jws-signer.ts';
import type { SigningKey } from './signing-key.ts';
import { VerifiedTokenCache } from './verified-token-cache.ts';

/**
 * Marks a token minted by /sts/exchange. Only those are accepted as the `_token` password: if
 * /token's own short-lived tokens were, a client could chain them into a credential that never
 * expires.
 */
export const EXCHANGE_CLAIM = 'kube-regcred.io/exchange';

export interface TokenIssuerSettings {
  key: SigningKey;
  headerStyle: HeaderStyle;
  /** Signs with `key` in `headerStyle`; built once per configuration (createJwsSigner). Default: built on first use. */
  signer?: JwsSigner;
  /** `iss`. */
  tokenIssuer: string;
  /** `aud`: the registry's service name, a single string (Distribution 2.8 needs that). */
  service: string;
}

export interface MintRequest {
  subject: string;
  access: readonly AccessEntry[];
  lifetimeMs: number;
  now: Date;
  /** Mint an exchange token (a credential for /token) rather than an access token. */
  exchange?: boolean;
  /** Never expire after this (the credential the token was derived from). */
  notAfter?: Date;
}

export interface MintedToken {
  token: string;
  issuedAt: Date;
  expiresAt: Date;
  /** Whole seconds from issue to expiry, as `expires_in`. */
  expiresInSeconds: number;
}

// Signers per settings object, built on first use (callers such as the proxy's tests pass no signer).
const signers = new WeakMap<TokenIssuerSettings, { registry: JwsSigner; exchange: JwsSigner }>();

/**
 * Exchange tokens are only ever verified by this service, never by a registry, so they carry the
 * short `kid` header whatever the registry's style: an `x5c` chain would make every `_token` password
 * (and so every /token request) kilobytes longer to parse, decode and hash.
 */
function signerOf(settings: TokenIssuerSettings, exchange: boolean): JwsSigner {
  let pair = signers.get(settings);
  if (!pair) {
    pair = { registry: settings.signer ?? createJwsSigner(settings.key, settings.headerStyle), exchange: createJwsSigner(settings.key, 'jwks') };
    signers.set(settings, pair);
  }
  return exchange ? pair.exchange : pair.registry;
}

/** Async for its callers' sake (signing itself is synchronous). */
export async function mintRegistryToken(settings: TokenIssuerSettings, request: MintRequest): Promise<MintedToken> {
  const iat = Math.floor(request.now.getTime() / 1000);
  let exp = iat + Math.max(1, Math.floor(request.lifetimeMs / 1000));
  if (request.notAfter) exp = Math.min(exp, Math.floor(request.notAfter.getTime() / 1000));
  const payload: Record<string, unknown> = {
    iss: settings.tokenIssuer,
    sub: request.subject,
    aud: settings.service,
    iat,
    nbf: iat,
    exp,
    jti: randomUUID(),
    access: request.access,
  };
  if (request.exchange) payload[EXCHANGE_CLAIM] = true;
  const token = signerOf(settings, request.exchange === true).sign(payload);
  return { token, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000), expiresInSeconds: exp - iat };
}

export interface ExchangeCredential {
  /** Identity UID. */
  subject: string;
  expiresAt: Date;
}

function refused(reason: string, code: 'CredentialInvalid' | 'AudienceInvalid' = 'CredentialInvalid'): RegcredError {
  return new RegcredError(code, `registry token refused: ${reason}`, { status: 401 });
}

/**
 * Verifies an exchange token signed by this service. Successful verifications are cached by hash
 * until expiry; the audience and expiry are still checked on every use (a cached token replayed
 * for another registry is refused just the same).
 */
export async function verifyExchangeToken(
  settings: TokenIssuerSettings,
  cache: VerifiedTokenCache<ExchangeCredential & { audience: unknown }>,
  token: string,
  now: Date,
): Promise<ExchangeCredential> {
  const nowMs = now.getTime();
  let credential = cache.get(token, nowMs);
  if (!credential) {
    let payload: JWTPayload;
    try {
      // Audience checked below, so that a token for another registry gets its own refusal reason.
      ({ payload } = await jwtVerify(token, settings.key.publicKey, {
        issuer: settings.tokenIssuer,
        algorithms: [settings.key.alg],
        currentDate: now,
        requiredClaims: ['exp', 'sub', 'aud'],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw refused('expired');
      if (err instanceof joseErrors.JOSEError) throw refused(err.code);
      throw refused('unreadable');
    }
    if (payload[EXCHANGE_CLAIM] !== true) throw refused('not an exchange token');
    credential = { subject: payload.sub!, expiresAt: new Date(payload.exp! * 1000), audience: payload.aud };
    cache.set(token, credential, credential.expiresAt.getTime());
  }
  if (credential.expiresAt.getTime() <= nowMs) throw refused('expired');
  if (credential.audience !== settings.service) throw refused('issued for another registry', 'AudienceInvalid');
  return { subject: credential.subject, expiresAt: credential.expiresAt };
}
