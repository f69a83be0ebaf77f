// The Chainguard exchanger against the test STS (a real HTTP server on loopback), with a locally
// generated subject-token issuer: no apiserver needed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { createChainguardExchanger } from '../../src/exchange/chainguard.ts';
import { RegcredError } from '../../src/errors.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { freePort } from '../support/ports.ts';
import { startTestSts, type TestSts } from '../support/test-sts.ts';
import { runExchangerContract } from './exchanger-contract.ts';

const AUDIENCE = 'issuer.test';
const CLUSTER_ISSUER = 'https://cluster.test';
const IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d';
const REGISTRY = 'registry.test:5000';

async function signSubject(key: CryptoKey, kid: string, audience = AUDIENCE): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(CLUSTER_ISSUER)
    .setSubject('system:serviceaccount:kube-regcred:controller')
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
}

interface Fixture {
  sts: TestSts;
  subjectToken: string;
  rejectedSubjectToken: string;
  wrongAudienceToken: string;
}

async function startFixture(accepts: 'query' | 'body' | 'either' = 'either'): Promise<Fixture> {
  const cluster = await generateKeyPair('ES256', { extractable: true });
  const stranger = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(cluster.publicKey)), kid: 'cluster', alg: 'ES256' }] };
  const sts = await startTestSts({
    jwks,
    expectedAudience: AUDIENCE,
    expectedIssuer: CLUSTER_ISSUER,
    tokenLifetimeSeconds: 600,
    identities: [IDENTITY],
    accepts,
  });
  return {
    sts,
    subjectToken: await signSubject(cluster.privateKey, 'cluster'),
    rejectedSubjectToken: await signSubject(stranger.privateKey, 'cluster'),
    wrongAudienceToken: await signSubject(cluster.privateKey, 'cluster', 'someone-else'),
  };
}

// Both request forms, each against a server that reads only that form: the exchanger sends both, so
// a pull-secret-updater era issuer (query) and a 2026 one (form body) each find what they need.
for (const accepts of ['query', 'body'] as const) {
  runExchangerContract(`chainguard, server reading the ${accepts === 'query' ? 'query string' : 'form-encoded body'}`, async () => {
    const f = await startFixture(accepts);
    const deadPort = await freePort();
    return {
      createExchanger: ({ timeoutMs }) => createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs }),
      createUnreachableExchanger: ({ timeoutMs }) =>
        createChainguardExchanger({ issuerUrl: `http://127.0.0.1:${deadPort}`, audience: AUDIENCE, timeoutMs }),
      subjectToken: f.subjectToken,
      rejectedSubjectToken: f.rejectedSubjectToken,
      identity: IDENTITY,
      registry: REGISTRY,
      setFault: (fault) => f.sts.setFault(fault),
      exchangeCalls: () => f.sts.calls.exchange,
      stop: () => f.sts.stop(),
    };
  });
}

describe('Chainguard exchanger, protocol details', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(() => f.sts.stop());

  it('sends the identity (with its slash) and the registry as query parameters, and names its audience', async () => {
    const exchanger = createChainguardExchanger({ issuerUrl: `${f.sts.url}/`, audience: AUDIENCE, timeoutMs: 10_000 });
    assert.equal(exchanger.name, 'chainguard');
    assert.equal(exchanger.audience, AUDIENCE);
    const token = await exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken });
    assert.equal(f.sts.calls.byIdentity.get(IDENTITY), 1, 'the STS should have seen the identity exactly once');
    const claims = JSON.parse(Buffer.from(token.token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims.sub, IDENTITY, 'registry token sub');
    assert.equal(claims.aud, REGISTRY, 'registry token aud');
  });

  it('sends aud and identity in the query and as a form body, with no cap or scopes by default', async () => {
    const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000 });
    await exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken });
    const seen = f.sts.calls.last!;
    assert.equal(seen.contentType, 'application/x-www-form-urlencoded');
    for (const [where, params] of [['query', seen.query], ['body', seen.form]] as const) {
      assert.deepEqual(params.getAll('aud'), [REGISTRY], `${where}: aud`);
      assert.deepEqual(params.getAll('identity'), [IDENTITY], `${where}: identity`);
      assert.deepEqual(params.getAll('cap'), [], `${where}: no cap by default`);
      assert.deepEqual(params.getAll('scopes'), [], `${where}: no scopes by default`);
    }
  });

  it('asks for the configured capabilities by use (pull / push) and for the configured scopes', async () => {
    const exchanger = createChainguardExchanger({
      issuerUrl: f.sts.url,
      audience: AUDIENCE,
      timeoutMs: 10_000,
      capabilities: { pull: ['registry.pull'], push: ['registry.pull', 'registry.push'] },
      scopes: ['group-a', 'group-a/team'],
    });
    await exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken });
    assert.deepEqual(f.sts.calls.last!.form.getAll('cap'), ['registry.pull']);
    assert.deepEqual(f.sts.calls.last!.form.getAll('scopes'), ['group-a', 'group-a/team']);
    await exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken, access: 'push' });
    assert.deepEqual(f.sts.calls.last!.form.getAll('cap'), ['registry.pull', 'registry.push']);
    assert.deepEqual(f.sts.calls.last!.query.getAll('cap'), ['registry.pull', 'registry.push'], 'the query carries the same fields');
  });

  it('uses expiry when it is earlier than the JWT exp, the exp when expiry says the same, and drops refresh_token', async () => {
    const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000 });
    const request = { identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken };
    try {
      f.sts.setExpiryAnswer({ earlierBySeconds: 120 });
      const earlier = await exchanger.exchange(request);
      const exp = (JSON.parse(Buffer.from(earlier.token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
      assert.equal(earlier.expiresAt.getTime(), (exp - 120) * 1000, 'expiresAt should be the earlier expiry');
      assert.ok(!('refresh_token' in earlier) && !('refreshToken' in earlier), 'the refresh token is not kept');
      f.sts.setExpiryAnswer('same');
      const same = await exchanger.exchange(request);
      assert.equal(same.expiresAt.getTime(), readJwtTimes(same.token).expiresAt.getTime());
    } finally {
      f.sts.setExpiryAnswer('none');
    }
  });

  it('accepts a token that is not a JWT when the answer carries expiry', async () => {
    const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000 });
    try {
      f.sts.setExpiryAnswer('opaque');
      const before = Date.now();
      const token = await exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken });
      assert.match(token.token, /^opaque\./);
      const lifetimeMs = token.expiresAt.getTime() - before;
      assert.ok(lifetimeMs > 590_000 && lifetimeMs <= 601_000, `expected about 600 s from expiry, got ${lifetimeMs} ms`);
      assert.equal(token.issuedAt, undefined);
    } finally {
      f.sts.setExpiryAnswer('none');
    }
  });

  for (const fault of ['502-once', '503-once'] as const) {
    it(`retries a ${fault.slice(0, 3)} once, quickly, and succeeds`, async () => {
      const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000, random: () => 0.5 });
      f.sts.setFault(fault);
      const before = f.sts.calls.exchange;
      const token = await exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken });
      assert.equal(f.sts.calls.exchange - before, 2, 'expected the failed request and one retry');
      assert.ok(readJwtTimes(token.token).expiresAt.getTime() > Date.now());
    });
  }

  it('retries a lasting 503 only once, then reports StsServerError; a 500 is not retried', async () => {
    const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000 });
    const request = { identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken };
    try {
      for (const [fault, calls] of [[503, 2], [500, 1]] as const) {
        f.sts.setFault(fault);
        const before = f.sts.calls.exchange;
        await assert.rejects(exchanger.exchange(request), (e: unknown) => e instanceof RegcredError && e.code === 'StsServerError' && e.status === fault);
        assert.equal(f.sts.calls.exchange - before, calls, `${fault}: requests sent`);
      }
    } finally {
      f.sts.setFault(undefined);
    }
  });

  it('reports StsUnauthorized when the subject token has another audience', async () => {
    const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000 });
    await assert.rejects(
      exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.wrongAudienceToken }),
      (error: unknown) => error instanceof RegcredError && error.code === 'StsUnauthorized',
    );
  });

  it('reports StsForbidden for an identity the STS does not know', async () => {
    const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000 });
    await assert.rejects(
      exchanger.exchange({ identity: 'abc/def', registry: REGISTRY, subjectToken: f.subjectToken }),
      (error: unknown) => error instanceof RegcredError && error.code === 'StsForbidden' && error.status === 403,
    );
  });

  it('carries Retry-After of a 429 as retryAfterMs', async () => {
    f.sts.setFault(429);
    try {
      const exchanger = createChainguardExchanger({ issuerUrl: f.sts.url, audience: AUDIENCE, timeoutMs: 10_000 });
      const error = await exchanger
        .exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof RegcredError);
      assert.equal(error.retryAfterMs, 7_000);
    } finally {
      f.sts.setFault(undefined);
    }
  });

  it('stops reading an answer larger than 256 KiB and reports StsBadResponse', async () => {
    const flood = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"token":"${'a'.repeat(400 * 1024)}"}`);
    });
    await new Promise<void>((r) => flood.listen(0, '127.0.0.1', r));
    try {
      const { port } = flood.address() as AddressInfo;
      const exchanger = createChainguardExchanger({ issuerUrl: `http://127.0.0.1:${port}`, audience: AUDIENCE, timeoutMs: 10_000 });
      await assert.rejects(
        exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken }),
        (error: unknown) => error instanceof RegcredError && error.code === 'StsBadResponse' && error.status === 200,
      );
    } finally {
      flood.closeAllConnections();
      await new Promise((r) => flood.close(r));
    }
  });

  it('does not follow a redirect, so the Bearer token never travels to another server', async () => {
    let leakedAuthorization: string | undefined;
    const elsewhere = createServer((req, res) => {
      leakedAuthorization = req.headers.authorization;
      res.end('{}');
    });
    const redirector = createServer((_req, res) => {
      const { port } = elsewhere.address() as AddressInfo;
      res.writeHead(307, { location: `http://127.0.0.1:${port}/sts/exchange` }).end();
    });
    await new Promise<void>((r) => elsewhere.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const { port } = redirector.address() as AddressInfo;
      const exchanger = createChainguardExchanger({ issuerUrl: `http://127.0.0.1:${port}`, audience: AUDIENCE, timeoutMs: 10_000 });
      await assert.rejects(
        exchanger.exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken }),
        (error: unknown) => error instanceof RegcredError && error.code === 'StsRejected' && error.status === 307,
      );
      assert.equal(leakedAuthorization, undefined, 'the redirect target received an Authorization header');
    } finally {
      elsewhere.closeAllConnections();
      redirector.closeAllConnections();
      await new Promise((r) => elsewhere.close(r));
      await new Promise((r) => redirector.close(r));
    }
  });
});
