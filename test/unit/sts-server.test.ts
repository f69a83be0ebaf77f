// The token service end to end on 127.0.0.1: exchange, /token with both credential kinds, scope
// intersection with grants, the OAuth2 form, JWKS, metrics and probes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { RunningSts } from '../../src/cmd/sts.ts';
import {
  SERVICE,
  TOKEN_ISSUER,
  baseConfig,
  basic,
  captureLogs,
  createSigningMaterial,
  createTestIssuer,
  decodePart,
  startTestSts,
  writeConfig,
  type SigningMaterial,
  type TestIssuer,
} from './sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const BUILDER = 'system:serviceaccount:ci:builder';
const logs = captureLogs();
let a: TestIssuer;
let b: TestIssuer;
let signing: SigningMaterial;
let sts: RunningSts;
let base: string;

before(async () => {
  a = await createTestIssuer('a');
  b = await createTestIssuer('b');
  const dir = scratchDir('sts-server-');
  signing = createSigningMaterial('ec', dir);
  sts = await startTestSts(writeConfig(dir, baseConfig(a, b, signing)), logs);
  base = `http://127.0.0.1:${sts.port}`;
});

after(() => sts?.stop());

async function exchangeToken(jwt: string, identity = 'builder', aud = SERVICE): Promise<string> {
  const res = await fetch(`${base}/sts/exchange?aud=${aud}&identity=${identity}`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(res.status, 200, `exchange: expected 200, got ${res.status} ${await res.clone().text()}`);
  const body = (await res.json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body), ['token', 'expiry'], 'the Chainguard protocol answers {"token", "expiry"} (RawToken)');
  const exp = decodePart(body.token as string, 1).exp as number;
  assert.equal(body.expiry, new Date(exp * 1000).toISOString(), 'expiry is the token exp in RFC 3339');
  return body.token as string;
}

interface TokenAnswer {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope?: string;
}

async function registryToken(authorization: string, scopes: string[]): Promise<TokenAnswer> {
  const query = [`service=${SERVICE}`, ...scopes.map((s) => `scope=${encodeURIComponent(s)}`)].join('&');
  const res = await fetch(`${base}/token?${query}`, { headers: { authorization } });
  assert.equal(res.status, 200, `token: expected 200, got ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as TokenAnswer;
}

describe('/sts/exchange', () => {
  test('answers a registry-style JWT for the identity: sub = UID, aud = registry, a short kid header, ES256', async () => {
    const token = await exchangeToken(await a.sign(BUILDER));
    const header = decodePart(token, 0);
    const claims = decodePart(token, 1);
    // Only this service verifies exchange tokens: no x5c chain, so the _token password stays short.
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    assert.deepEqual(header, { typ: 'JWT', alg: 'ES256', kid: jwks.keys[0]!.kid });
    // Registry tokens still carry the configured style (x5c here).
    const registry = decodePart((await registryToken(basic('_token', token), ['repository:ci/app:pull'])).token, 0);
    const x5c = registry.x5c as string[];
    assert.equal(new X509Certificate(Buffer.from(x5c[0]!, 'base64')).fingerprint256, new X509Certificate(signing.leaf.certPem).fingerprint256);
    assert.equal(claims.sub, 'builder');
    assert.equal(claims.aud, SERVICE, 'aud is a single string (Distribution 2.8)');
    assert.equal(claims.iss, TOKEN_ISSUER);
    assert.deepEqual(claims.access, []);
    assert.equal((claims.exp as number) - (claims.iat as number), 600, 'exchange lifetime from the config (10m)');
  });

  test('accepts a configured alias of the registry as aud, still minting for the service name', async () => {
    const claims = decodePart(await exchangeToken(await a.sign(BUILDER), 'builder', 'registry.alias.test'), 1);
    assert.equal(claims.aud, SERVICE);
  });

  test('a subject pattern and a CEL condition decide together', async () => {
    await exchangeToken(await a.sign('system:serviceaccount:team-x:reader'), 'reader');
    const deny = await fetch(`${base}/sts/exchange?aud=${SERVICE}&identity=reader`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await a.sign('system:serviceaccount:team-x:writer')}` },
    });
    assert.equal(deny.status, 403);
    // `*` does not cross `:`: a namespace-looking part cannot smuggle extra segments.
    const smuggle = await fetch(`${base}/sts/exchange?aud=${SERVICE}&identity=reader`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await a.sign('system:serviceaccount:team-x:evil:reader')}` },
    });
    assert.equal(smuggle.status, 403);
    await exchangeToken(await a.sign('repo:org/app:ref:refs/heads/main', { claims: { ref: 'refs/heads/main' } }), 'conditional');
    for (const claims of [{ ref: 'refs/heads/dev' }, {}]) {
      const res = await fetch(`${base}/sts/exchange?aud=${SERVICE}&identity=conditional`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await a.sign('repo:org/app:ref:refs/heads/main', { claims })}` },
      });
      assert.equal(res.status, 403, 'a false condition, or one that fails to evaluate (missing claim), denies');
    }
  });

  test('requires aud and identity exactly once', async () => {
    const jwt = await a.sign(BUILDER);
    for (const query of ['aud=registry.test', 'identity=builder', 'aud=registry.test&aud=x&identity=builder']) {
      const res = await fetch(`${base}/sts/exchange?${query}`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
      assert.equal(res.status, 400, `${query}: expected 400, got ${res.status}`);
    }
    assert.equal((await fetch(`${base}/sts/exchange?aud=${SERVICE}&identity=builder`)).status, 405);
  });

  const formExchange = (jwt: string, query: string, form: string, contentType = 'application/x-www-form-urlencoded') =>
    fetch(`${base}/sts/exchange${query}`, { method: 'POST', headers: { authorization: `Bearer ${jwt}`, 'content-type': contentType }, body: form });

  test('reads aud and identity from a form-encoded body (chainguard-dev/sdk), alone or agreeing with the query', async () => {
    const jwt = await a.sign(BUILDER);
    for (const query of ['', `?aud=${SERVICE}&identity=builder`]) {
      const res = await formExchange(jwt, query, `aud=${SERVICE}&identity=builder&cap=registry.pull&scopes=x`);
      assert.equal(res.status, 200, `query "${query}": ${await res.clone().text()}`);
      assert.equal(decodePart(((await res.json()) as { token: string }).token, 1).sub, 'builder');
    }
  });

  test('refuses a body and a query that disagree, and ignores a body that is not a form', async () => {
    const jwt = await a.sign(BUILDER);
    const differ = await formExchange(jwt, `?aud=${SERVICE}&identity=reader`, `aud=${SERVICE}&identity=builder`);
    assert.equal(differ.status, 400, 'identity differs between query and body');
    const json = await formExchange(jwt, '', `aud=${SERVICE}&identity=builder`, 'application/json');
    assert.equal(json.status, 400, 'fields in a non-form body are not read');
  });
});

describe('/token', () => {
  test('with _token + exchange token: grants intersected, response fields, verifiable registry token', async () => {
    const exchange = await exchangeToken(await a.sign(BUILDER));
    const answer = await registryToken(basic('_token', exchange), [
      'repository:ci/app:pull,push',
      'repository:base/alpine:pull,push',
      'repository:secret/thing:pull',
      'repository:ci/deep/nested/app:push',
      'registry:catalog:*',
    ]);
    assert.equal(answer.token, answer.access_token);
    assert.equal(answer.expires_in, 300);
    assert.ok(Math.abs(Date.parse(answer.issued_at) - Date.now()) < 5_000);
    const claims = decodePart(answer.token, 1);
    assert.equal(claims.sub, 'builder');
    assert.equal(claims.aud, SERVICE);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'ci/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'base/alpine', actions: ['pull'] },
      { type: 'repository', name: 'ci/deep/nested/app', actions: ['push'] },
    ]);
    // The service's JWKS verifies what it issues.
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const { payload } = await jwtVerify(answer.token, createLocalJWKSet(jwks as never), { issuer: TOKEN_ISSUER, audience: SERVICE });
    assert.equal(payload.sub, 'builder');
  });

  test('a pull-only identity never gets push', async () => {
    const exchange = await exchangeToken(await a.sign('system:serviceaccount:team-y:reader'), 'reader');
    const claims = decodePart((await registryToken(basic('_token', exchange), ['repository:any/thing:push,pull', 'repository:other:push'])).token, 1);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'any/thing', actions: ['pull'] }]);
  });

  test('with an issuer name + raw OIDC token (GitHub Actions style): first matching identity', async () => {
    const jwt = await a.sign('repo:org/app:ref:refs/heads/main', { claims: { ref: 'refs/heads/main' } });
    const claims = decodePart((await registryToken(basic('a', jwt), ['repository:org/app:pull,push'])).token, 1);
    assert.equal(claims.sub, 'conditional');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'org/app', actions: ['pull', 'push'] }]);
    const noMatch = await fetch(`${base}/token?service=${SERVICE}&scope=repository:org/app:pull`, {
      headers: { authorization: basic('a', await a.sign('repo:org/app:ref:refs/heads/dev', { claims: { ref: 'refs/heads/dev' } })) },
    });
    assert.equal(noMatch.status, 401);
    assert.ok(noMatch.headers.get('www-authenticate'));
  });

  test('a raw OIDC token gives a registry token that expires with it, not later (registry lifetime 5m)', async () => {
    const jwt = await a.sign('repo:org/app:ref:refs/heads/main', { claims: { ref: 'refs/heads/main' }, lifetimeSeconds: 60 });
    const answer = await registryToken(basic('a', jwt), ['repository:org/app:pull']);
    const claims = decodePart(answer.token, 1);
    const oidcExp = decodePart(jwt, 1).exp as number;
    assert.equal(claims.exp, oidcExp, `expected the registry token's exp to be the OIDC token's (${oidcExp}), got ${claims.exp}`);
    assert.ok(answer.expires_in <= 60, `expires_in ${answer.expires_in} s is past the OIDC token's life`);
    // Presented again (now from the verified-token cache), the cap holds the same.
    const again = decodePart((await registryToken(basic('a', jwt), ['repository:org/app:pull'])).token, 1);
    assert.equal(again.exp, oidcExp);
  });

  test('no scope (docker login) gives a token with empty access; the registry token never outlives the exchange token', async () => {
    const exchange = await exchangeToken(await a.sign(BUILDER));
    const answer = await registryToken(basic('_token', exchange), []);
    const claims = decodePart(answer.token, 1);
    assert.deepEqual(claims.access, []);
    assert.ok((claims.exp as number) <= (decodePart(exchange, 1).exp as number));
  });

  test('the OAuth2 POST form with grant_type=password, and refresh_token refused', async () => {
    const exchange = await exchangeToken(await a.sign(BUILDER));
    const form = new URLSearchParams({ grant_type: 'password', username: '_token', password: exchange, service: SERVICE, scope: 'repository:ci/app:pull repository:base/x:push', client_id: 'test' });
    const res = await fetch(`${base}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as TokenAnswer;
    assert.equal(answer.scope, 'repository:ci/app:pull');
    assert.equal(answer.access_token, answer.token);
    const refresh = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', service: SERVICE }),
    });
    assert.equal(refresh.status, 400);
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_request');
  });

  test('a service other than this registry is refused with 400', async () => {
    const exchange = await exchangeToken(await a.sign(BUILDER));
    const res = await fetch(`${base}/token?service=other.test&scope=repository:ci/app:pull`, { headers: { authorization: basic('_token', exchange) } });
    assert.equal(res.status, 400);
  });
});

describe('operations', () => {
  test('/.well-known/jwks.json serves the public key with its RFC 7638 kid', async () => {
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Record<string, string>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kid, sts.runtime().tokens.key.thumbprintKid);
    assert.equal(jwks.keys[0]!.alg, 'ES256');
    assert.equal(jwks.keys[0]!.d, undefined, 'no private part');
  });

  test('/metrics counts tokens by identity and action, refusals by code, and latency; probes answer', async () => {
    const ops = `http://127.0.0.1:${sts.opsPort}`;
    const metrics = await (await fetch(`${ops}/metrics`)).text();
    assert.match(metrics, /kube_regcred_sts_tokens_issued_total\{identity="builder",action="exchange"\} \d+/);
    assert.match(metrics, /kube_regcred_sts_tokens_issued_total\{identity="builder",action="push"\} \d+/);
    assert.match(metrics, /kube_regcred_sts_tokens_issued_total\{identity="reader",action="pull"\} \d+/);
    assert.match(metrics, /kube_regcred_sts_refusals_total\{reason="IdentityMismatch"\} \d+/);
    assert.match(metrics, /kube_regcred_sts_request_duration_seconds_count\{endpoint="token"\} \d+/);
    assert.equal((await fetch(`${ops}/healthz`)).status, 200);
    assert.equal((await fetch(`${ops}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/metrics`)).status, 404, 'metrics stay off the public port');
  });

  test('logs are JSON lines without tokens', () => {
    assert.ok(logs.lines.length > 0);
    for (const line of logs.lines) JSON.parse(line);
    assert.doesNotMatch(logs.text(), /eyJ[A-Za-z0-9_-]{10,}/);
  });
});
