// POST /sts/exchange with `Authorization: Bearer <OIDC JWT>` and aud=<registry>, identity=<UID> in the
// query (pull-secret-updater) or an application/x-www-form-urlencoded body (chainguard-dev/sdk since
// 2026): the Chainguard protocol, answered with `{"token": "<exchange token>", "expiry": "<RFC 3339>"}`.
import type { IncomingMessage } from 'node:http';
import { RegcredError } from '../errors.ts';
import { parseBearer } from './credentials.ts';
import { readBody } from './request-body.ts';
import { authorizeIdentity } from './identities.ts';
import type { StsMetrics } from './metrics.ts';
import { peekIssuer, verifyOidcToken } from './oidc-verify.ts';
import { mintRegistryToken } from './registry-token.ts';
import type { StsConfigSnapshot } from './config-snapshot.ts';

export interface HandlerInput {
  req: IncomingMessage;
  url: URL;
  snapshot: StsConfigSnapshot;
  now: Date;
  metrics: StsMetrics;
}

export interface HandlerResult {
  body: unknown;
  /** For the request log: the identity that got a token. */
  identity: string;
}

const MAX_PARAM_LENGTH = 255;

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length === 0) return undefined;
  if (values.length !== 1 || values[0] === '') throw new RegcredError('RequestInvalid', `parameter ${name} is required once`, { status: 400 });
  if (values[0]!.length > MAX_PARAM_LENGTH) throw new RegcredError('RequestInvalid', `parameter ${name} too long`, { status: 400 });
  return values[0]!;
}

/**
 * A field from the query or the form body. Both may carry it (our controller sends both, so old and new
 * servers understand it), but then they must agree: two different answers to "which identity" is a
 * request to refuse, not one to pick from. `cap` and `scopes` are accepted and ignored: this service's
 * grants come from its own identity configuration.
 */
function param(query: URLSearchParams, form: URLSearchParams, name: string): string {
  const inQuery = single(query, name);
  const inBody = single(form, name);
  if (inQuery !== undefined && inBody !== undefined && inQuery !== inBody) {
    throw new RegcredError('RequestInvalid', `parameter ${name} differs between query and body`, { status: 400 });
  }
  const value = inBody ?? inQuery;
  if (value === undefined) throw new RegcredError('RequestInvalid', `parameter ${name} is required once`, { status: 400 });
  return value;
}

const FORM = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;

export async function handleExchange({ req, url, snapshot, now, metrics }: HandlerInput): Promise<HandlerResult> {
  // Read (bounded) in any case, so the connection stays usable; only a form body carries fields.
  const body = await readBody(req);
  const form = FORM.test(req.headers['content-type'] ?? '') ? new URLSearchParams(body) : new URLSearchParams();
  const audience = param(url.searchParams, form, 'aud');
  const uid = param(url.searchParams, form, 'identity');
  const jwt = parseBearer(req.headers.authorization);
  const { config } = snapshot;
  if (audience !== config.service && !config.exchangeAudiences.includes(audience)) {
    throw new RegcredError('AudienceInvalid', 'this service does not issue tokens for that registry', { status: 403 });
  }
  const issuer = snapshot.issuersByUrl.get(peekIssuer(jwt));
  if (!issuer) throw new RegcredError('IssuerUnknown', 'token issuer not trusted', { status: 401 });
  const verified = await verifyOidcToken(jwt, issuer, now);
  const identity = authorizeIdentity(snapshot.identitiesByUid, uid, issuer.name, verified.subject, verified.claims);
  const minted = await mintRegistryToken(snapshot.tokens, {
    subject: identity.uid,
    access: [],
    lifetimeMs: config.exchangeLifetimeMs,
    now,
    exchange: true,
  });
  metrics.tokensIssued.inc({ identity: identity.uid, action: 'exchange' });
  return { body: { token: minted.token, expiry: minted.expiresAt.toISOString() }, identity: identity.uid };
}
