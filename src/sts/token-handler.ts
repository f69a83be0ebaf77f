// GET /token (Docker token protocol) and POST /token (its OAuth2 form, grant_type=password only):
// authenticate, intersect the requested scopes with the identity's grants, mint a registry token.
import { RegcredError } from '../errors.ts';
import { parseBasic, type BasicCredentials } from './credentials.ts';
import type { HandlerInput, HandlerResult } from './exchange-handler.ts';
import { intersectAccess } from './grants.ts';
import { readBody } from './request-body.ts';
import { findIdentity, type Identity } from './identities.ts';
import { verifyOidcToken } from './oidc-verify.ts';
import { mintRegistryToken, verifyExchangeToken } from './registry-token.ts';
import type { StsConfigSnapshot } from './config-snapshot.ts';
import { formatAccess, parseScopes } from './scope.ts';

/** The Basic-auth username that marks an exchange token as the password (as with cgr.dev). */
export const TOKEN_USERNAME = '_token';

interface Authenticated {
  identity: Identity;
  /** The credential's own expiry; the registry token never outlives it. */
  notAfter?: Date;
}

function unauthorized(error: unknown): never {
  // On /token every authentication failure is "bad credentials" (401 with a challenge), so that
  // docker and skopeo report it as such; the code still says which rule failed.
  if (error instanceof RegcredError && (error.code === 'IdentityUnknown' || error.code === 'IdentityMismatch')) {
    throw new RegcredError(error.code, error.message, { status: 401 });
  }
  throw error;
}

async function authenticate(snapshot: StsConfigSnapshot, credentials: BasicCredentials, now: Date): Promise<Authenticated> {
  if (credentials.username === TOKEN_USERNAME) {
    const credential = await verifyExchangeToken(snapshot.tokens, snapshot.exchangeCache, credentials.password, now);
    const identity = snapshot.identitiesByUid.get(credential.subject);
    // The identity may have been removed from the configuration since the exchange.
    if (!identity) throw new RegcredError('IdentityUnknown', 'identity no longer configured', { status: 401 });
    return { identity, notAfter: credential.expiresAt };
  }
  const issuer = snapshot.issuersByName.get(credentials.username);
  if (!issuer) throw new RegcredError('IssuerUnknown', 'unknown username', { status: 401 });
  const verified = await verifyOidcToken(credentials.password, issuer, now);
  // The registry token must not outlive the JWT it was derived from (requiredClaims makes exp present).
  const notAfter = new Date((verified.claims.exp as number) * 1000);
  return { identity: findIdentity(snapshot.identities, issuer.name, verified.subject, verified.claims), notAfter };
}

function credentialsFromForm(form: URLSearchParams, header: string | undefined): BasicCredentials {
  const grantType = form.get('grant_type');
  if (grantType === 'refresh_token') {
    // No refresh tokens are issued, so none can come back (docs/sts.md).
    throw new RegcredError('RequestInvalid', 'grant_type refresh_token is not supported; use password', { status: 400 });
  }
  if (grantType !== 'password') throw new RegcredError('RequestInvalid', 'grant_type must be password', { status: 400 });
  const username = form.get('username');
  const password = form.get('password');
  if (username && password) return { username, password };
  return parseBasic(header);
}

export async function handleToken({ req, url, snapshot, now, metrics }: HandlerInput): Promise<HandlerResult> {
  const isForm = req.method === 'POST';
  let params = url.searchParams;
  let credentials: BasicCredentials;
  if (isForm) {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const body = await readBody(req);
    if (type !== 'application/x-www-form-urlencoded') {
      throw new RegcredError('RequestInvalid', 'expected an application/x-www-form-urlencoded body', { status: 400 });
    }
    params = new URLSearchParams(body);
    credentials = credentialsFromForm(params, req.headers.authorization);
  } else {
    credentials = parseBasic(req.headers.authorization);
  }
  const service = params.get('service');
  if (service !== null && service !== snapshot.config.service) {
    throw new RegcredError('RequestInvalid', 'this service does not issue tokens for that registry', { status: 400 });
  }
  const scopes = parseScopes(params.getAll('scope'));
  const { identity, notAfter } = await authenticate(snapshot, credentials, now).catch(unauthorized);
  const access = intersectAccess(scopes, identity.grants);
  const minted = await mintRegistryToken(snapshot.tokens, {
    subject: identity.uid,
    access,
    lifetimeMs: snapshot.config.registryLifetimeMs,
    now,
    ...(notAfter ? { notAfter } : {}),
  });
  const actions = new Set(access.flatMap((entry) => entry.actions));
  if (actions.size === 0) metrics.tokensIssued.inc({ identity: identity.uid, action: 'none' });
  for (const action of actions) metrics.tokensIssued.inc({ identity: identity.uid, action });
  const body: Record<string, unknown> = {
    token: minted.token,
    access_token: minted.token,
    expires_in: minted.expiresInSeconds,
    issued_at: minted.issuedAt.toISOString(),
  };
  if (isForm) body.scope = formatAccess(access);
  return { body, identity: identity.uid };
}
