// A real HTTP server on 127.0.0.1 speaking the Chainguard STS protocol, for tests: it verifies the
// caller's Bearer JWT (jose, against a JWKS or the apiserver's JWKS URL), issues ES256 registry JWTs,
// counts calls, and misbehaves on request (timeouts, error statuses, broken 200s).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  SignJWT,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { fetchWithCa } from './fetch-with-ca.ts';

/**
 * How the next answers go wrong. Error bodies deliberately echo secret material (the caller's token,
 * a registry JWT) the way a careless STS might, so tests can prove the client redacts it.
 */
export type StsFault =
  | 'timeout' // never answers until stop()
  | 500
  | 401
  | 403
  | 429 // with Retry-After: 7
  | 'non-json' // 200 with an HTML page
  | 'no-token' // 200 JSON without `token`
  | 'not-a-jwt' // 200 {"token": "<opaque string>"}
  | 'unknown-identity' // 403, as for an identity the STS does not know
  | '502-once' // one 502 (a gateway's hiccup), then normal answers
  | '503-once' // one 503, then normal answers
  | 503; // 503 every time

export interface TestStsOptions {
  /** Verify callers against this JWKS URL (e.g. `${cp.issuer}/openid/v1/jwks`)... */
  jwksUrl?: string;
  /** ...or against this key set. */
  jwks?: JSONWebKeySet;
  /** CA for an https jwksUrl. */
  caPem?: string;
  /** `aud` the caller's token must carry. */
  expectedAudience: string;
  /** `iss` the caller's token must carry, when set. */
  expectedIssuer?: string;
  tokenLifetimeSeconds: number;
  /** Known identity UIDs; any identity when absent. */
  identities?: string[];
  /**
   * Where the request fields are read from: `query` (pull-secret-updater era servers), `body` (the
   * form-encoded body chainguard-dev/sdk sends since 2026), or `either` (default; the body wins).
   */
  accepts?: 'query' | 'body' | 'either';
}

/** How a 200 carries the token's expiry (the proto's optional RawToken.expiry). */
export type ExpiryAnswer =
  | 'none' // {"token": jwt}
  | 'same' // expiry = the JWT's exp
  | { earlierBySeconds: number } // expiry before the JWT's exp
  | 'opaque'; // a non-JWT token, expiry = now + lifetime

export interface ExchangeSeen {
  /** Where aud/identity were found: `body` when the form body had them, else `query`. */
  from: 'query' | 'body';
  contentType: string | undefined;
  query: URLSearchParams;
  form: URLSearchParams;
}

export interface TestStsCalls {
  /** POST /sts/exchange requests received, faulted ones included. */
  exchange: number;
  /** Registry tokens issued. */
  issued: number;
  byIdentity: Map<string, number>;
  /** `sub` of verified callers. */
  bySubject: Map<string, number>;
  /** The last exchange request's fields, as received. */
  last?: ExchangeSeen;
  /** Claims of the last verified caller token. */
  lastCallerClaims?: Record<string, unknown>;
}

export interface TestSts {
  url: string;
  /** The `iss` of issued registry tokens (== url). */
  issuer: string;
  /** Public keys of issued registry tokens. */
  publicJwks: JSONWebKeySet;
  calls: TestStsCalls;
  setFault(fault: StsFault | undefined): void;
  setTokenLifetime(seconds: number): void;
  /** Issue tokens without `iat` (some STSs do): their lifetime is then unknown to the controller. */
  setIssuedAtClaim(present: boolean): void;
  setExpiryAnswer(answer: ExpiryAnswer): void;
  /** A registry token as an exchange would issue it, without a request (not counted in calls). */
  issueFor(identity: string, registry: string): Promise<string>;
  stop(): Promise<void>;
}

export const RETRY_AFTER_SECONDS = 7;

export async function startTestSts(options: TestStsOptions): Promise<TestSts> {
  const verifyKey = callerKeys(options);
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const publicJwks: JSONWebKeySet = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] };
  const calls: TestStsCalls = { exchange: 0, issued: 0, byIdentity: new Map(), bySubject: new Map() };
  let fault: StsFault | undefined;
  let expiryAnswer: ExpiryAnswer = 'none';
  let lifetimeSeconds = options.tokenLifetimeSeconds;
  let withIssuedAt = true;
  let issuer = '';
  const held = new Set<ServerResponse>();

  async function issue(identity: string, registry: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(identity)
      .setAudience(registry);
    if (withIssuedAt) jwt.setIssuedAt(now);
    return jwt
      .setExpirationTime(now + lifetimeSeconds)
      .setJti(randomUUID())
      .sign(privateKey);
  }

  async function exchange(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    calls.exchange += 1;
    const contentType = req.headers['content-type'];
    const raw = await readAll(req);
    const form = /^application\/x-www-form-urlencoded\b/i.test(contentType ?? '') ? new URLSearchParams(raw) : new URLSearchParams();
    const accepts = options.accepts ?? 'either';
    const fromBody = accepts !== 'query' && form.has('aud');
    const fields = fromBody ? form : accepts === 'body' ? new URLSearchParams() : url.searchParams;
    calls.last = { from: fromBody ? 'body' : 'query', contentType, query: url.searchParams, form };
    const identity = fields.get('identity') ?? '';
    const registry = fields.get('aud') ?? '';
    calls.byIdentity.set(identity, (calls.byIdentity.get(identity) ?? 0) + 1);
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const current = fault;
    if (current === '502-once' || current === '503-once') {
      fault = undefined;
      return send(res, current === '502-once' ? 502 : 503, 'text/html', '<html>bad gateway</html>');
    }
    if (current === 503) return send(res, 503, 'text/plain', 'unavailable');

    if (current === 'timeout') {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    if (current === 500) return send(res, 500, 'text/plain', `internal error handling Authorization: Bearer ${bearer}`);
    if (current === 401) return sendJson(res, 401, { code: 'unauthenticated', message: `invalid token ${bearer}` });
    if (current === 403) return sendJson(res, 403, { code: 'permission_denied', message: 'not allowed' });
    if (current === 429) {
      res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
      return sendJson(res, 429, { code: 'resource_exhausted', message: 'slow down' });
    }
    if (current === 'unknown-identity') return sendJson(res, 403, { code: 'permission_denied', message: 'unknown identity' });

    if (req.method !== 'POST') return sendJson(res, 405, { message: 'use POST' });
    // The wording Chainguard's issuer uses when the fields are not where it looks.
    if (!registry) return sendJson(res, 400, { code: 3, message: 'Audience must be specified' });
    if (!identity) return sendJson(res, 400, { message: 'identity is required' });
    let subject: string;
    try {
      const { payload } = await jwtVerify(bearer, verifyKey, {
        audience: options.expectedAudience,
        ...(options.expectedIssuer ? { issuer: options.expectedIssuer } : {}),
      });
      subject = payload.sub ?? '';
      calls.lastCallerClaims = payload as Record<string, unknown>;
    } catch (error) {
      return sendJson(res, 401, { code: 'unauthenticated', message: `token rejected: ${(error as Error).name}` });
    }
    calls.bySubject.set(subject, (calls.bySubject.get(subject) ?? 0) + 1);
    if (options.identities && !options.identities.includes(identity)) {
      return sendJson(res, 403, { code: 'permission_denied', message: 'unknown identity' });
    }

    const token = await issue(identity, registry);
    if (current === 'non-json') return send(res, 200, 'text/html', `<html><body>token=${token}</body></html>`);
    if (current === 'no-token') return sendJson(res, 200, { access_token: token });
    if (current === 'not-a-jwt') return sendJson(res, 200, { token: randomBytes(48).toString('base64url') });
    calls.issued += 1;
    return sendJson(res, 200, withExpiry(token));
  }

  function withExpiry(token: string): Record<string, string> {
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp as number;
    const answer = expiryAnswer;
    if (answer === 'none') return { token };
    // The refresh token is there to prove clients drop it; nothing in the tests ever uses it.
    const refresh_token = randomBytes(24).toString('base64url');
    if (answer === 'same') return { token, refresh_token, expiry: new Date(exp * 1000).toISOString() };
    if (answer === 'opaque') {
      return { token: `opaque.${randomBytes(24).toString('base64url')}`, refresh_token, expiry: new Date(exp * 1000).toISOString() };
    }
    return { token, refresh_token, expiry: new Date((exp - answer.earlierBySeconds) * 1000).toISOString() };
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/sts/exchange') {
      exchange(req, res, url).catch((error: unknown) => send(res, 500, 'text/plain', `test sts: ${String(error)}`));
      return;
    }
    req.resume(); // no other path has a body worth reading
    if (url.pathname === '/.well-known/jwks.json') {
      sendJson(res, 200, publicJwks);
    } else {
      sendJson(res, 404, { message: 'not found' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  issuer = `http://127.0.0.1:${port}`;

  return {
    url: issuer,
    issuer,
    publicJwks,
    calls,
    setFault: (next) => {
      fault = next;
    },
    setTokenLifetime: (seconds) => {
      lifetimeSeconds = seconds;
    },
    setIssuedAtClaim: (present) => {
      withIssuedAt = present;
    },
    setExpiryAnswer: (answer) => {
      expiryAnswer = answer;
    },
    issueFor: (identity, registry) => issue(identity, registry),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function callerKeys(options: TestStsOptions): JWTVerifyGetKey {
  if (options.jwks) return createLocalJWKSet(options.jwks);
  if (!options.jwksUrl) throw new Error('startTestSts: give jwks or jwksUrl');
  const url = new URL(options.jwksUrl);
  if (options.caPem) {
    const fetchCa = fetchWithCa(options.caPem);
    return createRemoteJWKSet(url, {
      [customFetch]: (jwksUrl, init) => fetchCa(jwksUrl, { headers: init.headers, signal: init.signal }),
    });
  }
  return createRemoteJWKSet(url);
}

/** The request body, bounded (a form of a few fields); more is cut off, which the fields check then refuses. */
function readAll(req: IncomingMessage, maxBytes = 16_384): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body));
}
