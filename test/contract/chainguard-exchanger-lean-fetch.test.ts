// The Chainguard exchanger as the credential provider runs it (over src/http/lean-fetch.ts instead of
// the global fetch) passes the same exchanger contract against the test STS, and the same protocol
// details that depend on the transport: no redirect followed, a bounded body, Retry-After read.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { createChainguardExchanger } from '../../src/exchange/chainguard.ts';
import { RegcredError } from '../../src/errors.ts';
import { leanFetch } from '../../src/http/lean-fetch.ts';
import { freePort } from '../support/ports.ts';
import { startTestSts, type TestSts } from '../support/test-sts.ts';
import { runExchangerContract } from './exchanger-contract.ts';

const AUDIENCE = 'issuer.test';
const CLUSTER_ISSUER = 'https://cluster.test';
const IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d';
const REGISTRY = 'registry.test:5000';

async function fixture(): Promise<{ sts: TestSts; subjectToken: string; rejectedSubjectToken: string }> {
  const cluster = await generateKeyPair('ES256', { extractable: true });
  const stranger = await generateKeyPair('ES256');
  const sign = (key: CryptoKey) =>
    new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'cluster' }).setIssuer(CLUSTER_ISSUER).setSubject('system:serviceaccount:team-a:app').setAudience(AUDIENCE).setIssuedAt().setExpirationTime('10m').sign(key);
  const sts = await startTestSts({
    jwks: { keys: [{ ...(await exportJWK(cluster.publicKey)), kid: 'cluster', alg: 'ES256' }] },
    expectedAudience: AUDIENCE,
    expectedIssuer: CLUSTER_ISSUER,
    tokenLifetimeSeconds: 600,
    identities: [IDENTITY],
  });
  return { sts, subjectToken: await sign(cluster.privateKey), rejectedSubjectToken: await sign(stranger.privateKey) };
}

const exchangerFor = (issuerUrl: string, timeoutMs = 10_000) => createChainguardExchanger({ issuerUrl, audience: AUDIENCE, timeoutMs, fetch: leanFetch });

runExchangerContract('chainguard over lean-fetch', async () => {
  const f = await fixture();
  const deadPort = await freePort();
  return {
    createExchanger: ({ timeoutMs }) => exchangerFor(f.sts.url, timeoutMs),
    createUnreachableExchanger: ({ timeoutMs }) => exchangerFor(`http://127.0.0.1:${deadPort}`, timeoutMs),
    subjectToken: f.subjectToken,
    rejectedSubjectToken: f.rejectedSubjectToken,
    identity: IDENTITY,
    registry: REGISTRY,
    setFault: (fault) => f.sts.setFault(fault),
    exchangeCalls: () => f.sts.calls.exchange,
    stop: () => f.sts.stop(),
  };
});

describe('lean-fetch transport details', () => {
  let f: Awaited<ReturnType<typeof fixture>>;
  before(async () => {
    f = await fixture();
  });
  after(() => f.sts.stop());

  async function withServer(handler: Parameters<typeof createServer>[1], run: (url: string) => Promise<void>): Promise<void> {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }

  it('names the unreachable peer the way fetch does (system error code)', async () => {
    const port = await freePort();
    await assert.rejects(exchangerFor(`http://127.0.0.1:${port}`).exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken }), (e: unknown) => e instanceof RegcredError && e.code === 'StsUnreachable' && e.message === 'STS unreachable (ECONNREFUSED)');
  });

  it('carries Retry-After of a 429', async () => {
    f.sts.setFault(429);
    try {
      const error = await exchangerFor(f.sts.url).exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken }).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof RegcredError && error.retryAfterMs === 7_000);
    } finally {
      f.sts.setFault(undefined);
    }
  });

  it('stops reading an answer larger than 256 KiB', async () => {
    await withServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"token":"${'a'.repeat(400 * 1024)}"}`), async (url) => {
      await assert.rejects(exchangerFor(url).exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken }), (e: unknown) => e instanceof RegcredError && e.code === 'StsBadResponse' && e.status === 200);
    });
  });

  it('does not follow a redirect, so the Bearer token never travels on', async () => {
    let followed = 0;
    await withServer((req, res) => {
      if (req.url?.startsWith('/elsewhere')) followed++;
      res.writeHead(307, { location: '/elsewhere' }).end();
    }, async (url) => {
      await assert.rejects(exchangerFor(url).exchange({ identity: IDENTITY, registry: REGISTRY, subjectToken: f.subjectToken }), (e: unknown) => e instanceof RegcredError && e.code === 'StsRejected');
    });
    assert.equal(followed, 0);
  });

  it('sends a form body with its content type, and the headers given', async () => {
    let seen: { type?: string; body: string; auth?: string } = { body: '' };
    await withServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d)).on('end', () => {
        seen = { type: req.headers['content-type'], body, auth: req.headers.authorization };
        res.writeHead(204).end();
      });
    }, async (url) => {
      const res = await leanFetch(url, { method: 'POST', headers: { Authorization: 'Bearer x' }, body: new URLSearchParams({ cap: 'a b' }) });
      assert.equal(res.status, 204);
    });
    assert.deepEqual(seen, { type: 'application/x-www-form-urlencoded;charset=UTF-8', body: 'cap=a+b', auth: 'Bearer x' });
  });
});
