// POST /sts/exchange?aud=<registry>&identity=<UID> with `Authorization: Bearer <OIDC JWT>`:
// the Chainguard protocol, answered with `{"token": "<exchange token>"}`.
import type { IncomingMessage } from 'node:http';
import { RegcredError } from '../errors.ts';
import { parseBearer } from './credentials.ts';
import { readBody } from './http-io.ts';
import { authorizeIdentity } from './identities.ts';
import type { StsMetrics } from './metrics.ts';
import { peekIssuer, verifyOidcToken } from './oidc-verify.ts';
import { mintRegistryToken } from './registry-token.ts';
import type { StsRuntime } from './runtime.ts';

export interface HandlerInput {
  req: IncomingMessage;
  url: URL;
  runtime: StsRuntime;
  now: Date;
  metrics: StsMetrics;
}

export interface HandlerResult {
  body: unknown;
  /** For the request log: the identity that got a token. */
  identity: string;
}

const MAX_PARAM_LENGTH = 255;

function param(url: URL, name: string): string {
  const values = url.searchParams.getAll(name);
  if (values.length !== 1 || values[0] === '') {
    throw new RegcredError('RequestInvalid', `query parameter ${name} is required once`, { status: 400 });
  }
  if (values[0]!.length > MAX_PARAM_LENGTH) throw new RegcredError('RequestInvalid', `query parameter ${name} too long`, { status: 400 });
  return values[0]!;
}

export async function handleExchange({ req, url, runtime, now, metrics }: HandlerInput): Promise<HandlerResult> {
  // The protocol sends an empty body; read (bounded) and ignore it so the connection stays usable.
  await readBody(req);
  const audience = param(url, 'aud');
  const uid = param(url, 'identity');
  const jwt = parseBearer(req.headers.authorization);
  const { config } = runtime;
  if (audience !== config.service && !config.exchangeAudiences.includes(audience)) {
    throw new RegcredError('AudienceInvalid', 'this service does not issue tokens for that registry', { status: 403 });
  }
  const issuer = runtime.issuersByUrl.get(peekIssuer(jwt));
  if (!issuer) throw new RegcredError('IssuerUnknown', 'token issuer not trusted', { status: 401 });
  const verified = await verifyOidcToken(jwt, issuer, now);
  const identity = authorizeIdentity(runtime.identitiesByUid, uid, issuer.name, verified.subject, verified.claims);
  const minted = await mintRegistryToken(runtime.tokens, {
    subject: identity.uid,
    access: [],
    lifetimeMs: config.exchangeLifetimeMs,
    now,
    exchange: true,
  });
  metrics.tokensIssued.inc({ identity: identity.uid, action: 'exchange' });
  return { body: { token: minted.token }, identity: identity.uid };
}
