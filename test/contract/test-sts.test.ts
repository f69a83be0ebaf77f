// The test STS itself, since controller tests depend on it: it verifies callers against a remote JWKS
// over HTTPS with a private CA (the apiserver's shape), issues verifiable tokens, and stops cleanly.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, decodeJwt } from 'jose';
import { createCertificateAuthority, issueCertificate } from '../support/pki.ts';
import { startTestSts, type TestSts } from '../support/test-sts.ts';
import { scratchDir } from '../support/scratch.ts';

const AUDIENCE = 'issuer.test';

describe('test STS with a remote JWKS over HTTPS', () => {
  let dir: string;
  let jwksServer: Server;
  let sts: TestSts;
  let subjectToken: string;

  before(async () => {
    dir = scratchDir('test-sts-');
    const ca = createCertificateAuthority(dir);
    const leaf = issueCertificate(ca, { commonName: 'jwks', sans: ['127.0.0.1'] });
    const cluster = await generateKeyPair('ES256', { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(cluster.publicKey)), kid: 'k1', alg: 'ES256' }] });
    jwksServer = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const { port } = jwksServer.address() as AddressInfo;
    sts = await startTestSts({
      jwksUrl: `https://127.0.0.1:${port}/openid/v1/jwks`,
      caPem: ca.certPem,
      expectedAudience: AUDIENCE,
      tokenLifetimeSeconds: 600,
    });
    subjectToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setSubject('system:serviceaccount:ns:sa')
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(cluster.privateKey);
  });

  after(async () => {
    await sts.stop();
    jwksServer.closeAllConnections();
    await new Promise((r) => jwksServer.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const exchange = (identity = 'abc/def') =>
    fetch(`${sts.url}/sts/exchange?aud=registry.test&identity=${encodeURIComponent(identity)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${subjectToken}` },
    });

  it('verifies the caller against the JWKS behind the private CA and issues a verifiable registry token', async () => {
    const response = await exchange();
    assert.equal(response.status, 200, await response.clone().text());
    const { token } = (await response.json()) as { token: string };
    const { payload } = await jwtVerify(token, createLocalJWKSet(sts.publicJwks), { issuer: sts.issuer, audience: 'registry.test' });
    assert.equal(payload.sub, 'abc/def');
    assert.equal((payload.exp ?? 0) - (payload.iat ?? 0), 600);
    assert.equal(sts.calls.bySubject.get('system:serviceaccount:ns:sa'), 1);
  });

  it('issues tokens with the lifetime set at run time, each with its own jti', async () => {
    sts.setTokenLifetime(30);
    try {
      const a = decodeJwt(((await (await exchange()).json()) as { token: string }).token);
      const b = decodeJwt(((await (await exchange()).json()) as { token: string }).token);
      assert.equal((a.exp ?? 0) - (a.iat ?? 0), 30);
      assert.notEqual(a.jti, b.jti);
    } finally {
      sts.setTokenLifetime(600);
    }
  });

  it('answers 401 to a caller without a Bearer token', async () => {
    const response = await fetch(`${sts.url}/sts/exchange?aud=registry.test&identity=abc`, { method: 'POST' });
    assert.equal(response.status, 401);
  });
});

describe('test STS lifecycle', () => {
  it('stop() ends a request held by the timeout fault', async () => {
    const sts = await startTestSts({ jwks: { keys: [] }, expectedAudience: AUDIENCE, tokenLifetimeSeconds: 60 });
    sts.setFault('timeout');
    const pending = fetch(`${sts.url}/sts/exchange?aud=r&identity=i`, { method: 'POST' }).then(
      () => 'answered',
      () => 'failed',
    );
    while (sts.calls.exchange === 0) await new Promise((r) => setTimeout(r, 10));
    await sts.stop();
    assert.equal(await pending, 'failed', 'the held request should fail when the server stops');
  });
});
