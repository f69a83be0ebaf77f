// An OIDC issuer of the test's own (HTTPS on loopback, discovery + JWKS) goes down while clients keep
// exchanging tokens at the real token service: the last keys fetched keep verifying for the configured
// `keysMaxStale`, far past the refresh interval; past it the service says 503; back up, it recovers.
// Also: discovery with a bearer token file, sent to the issuer and refused without it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import type { RunningSts } from '../../src/cmd/sts.ts';
import { createCertificateAuthority, issueCertificate, type KeyPairFiles, type CertificateAuthority } from '../support/pki.ts';
import { SERVICE, TOKEN_ISSUER, captureLogs, createSigningMaterial, startTestSts, writeConfig } from './sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const SUBJECT = 'system:serviceaccount:ci:builder';
const BEARER = 'issuer-reader-token-0123456789';
let dir: string;
let ca: CertificateAuthority;
let tls: KeyPairFiles;
let server: Server | undefined;
let port = 0;
let privateKey: CryptoKey;
let jwk: JWK;
const seen = { requests: 0, withBearer: 0 };
let requireBearer = false;

function issuerUrl(): string {
  return `https://127.0.0.1:${port}`;
}

async function startIssuer(): Promise<void> {
  server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    seen.requests++;
    const authorized = req.headers.authorization === `Bearer ${BEARER}`;
    if (authorized) seen.withBearer++;
    if (requireBearer && !authorized) {
      res.writeHead(401).end();
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: issuerUrl(), jwks_uri: `${issuerUrl()}/keys` }));
    } else if (req.url === '/keys') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
  port = (server!.address() as AddressInfo).port;
}

async function stopIssuer(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise<void>((resolve) => s.close(() => resolve()));
}

function sign(): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: SUBJECT, jti: `${now}-${Math.random()}` })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(issuerUrl())
    .setAudience('kube-regcred-sts')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(privateKey);
}

async function exchange(sts: RunningSts): Promise<number> {
  // A fresh OIDC token each time, so the verified-token cache never answers for the issuer's keys.
  const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=builder`, { method: 'POST', headers: { authorization: `Bearer ${await sign()}` } });
  await res.arrayBuffer();
  return res.status;
}

function config(issuer: Record<string, unknown>): Record<string, unknown> {
  const signing = createSigningMaterial('ec', mkdtempSync(join(dir, 'pki-')));
  return {
    service: SERVICE,
    tokenIssuer: TOKEN_ISSUER,
    signing: { keyFile: signing.leaf.keyFile, certificateFile: signing.leaf.certFile },
    issuers: [{ name: 'cluster', issuer: issuerUrl(), audiences: ['kube-regcred-sts'], caFile: ca.certFile, ...issuer }],
    identities: [{ uid: 'builder', issuer: 'cluster', subject: SUBJECT, grants: [{ repository: 'ci/**', actions: ['pull'] }] }],
  };
}

before(async () => {
  dir = scratchDir('sts-outage-');
  ca = createCertificateAuthority(dir);
  tls = issueCertificate(ca, { commonName: 'issuer', sans: ['127.0.0.1'] });
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  await startIssuer();
});

after(() => stopIssuer());

test('issuer down longer than the refresh interval: the last keys verify until keysMaxStale, then 503, then recovery', async () => {
  const logs = captureLogs();
  // Refresh every 100 ms (the shipped default is 10 min), retry a failed fetch after 50 ms, trust old keys for 2 s.
  const sts = await startTestSts(writeConfig(dir, config({ keysMaxStale: '2s' }), 'stale.yaml'), logs, { issuerKeys: { refreshMs: 100, discoveryRetryMs: 50 } });
  try {
    assert.equal(await exchange(sts), 200);
    const fetchedAt = Date.now();
    await stopIssuer();
    const statuses: number[] = [];
    // Ten refresh intervals and more with the issuer down, tokens issued all along.
    while (Date.now() - fetchedAt < 1_500) {
      statuses.push(await exchange(sts));
      await sleep(50);
    }
    assert.ok(statuses.length >= 5);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], `expected every exchange during the outage to succeed, got ${statuses.join(',')}`);
    const metrics = await sts.registry.getSingleMetricAsString('kube_regcred_sts_issuer_key_fetches_total');
    assert.match(metrics, /result="failure"\} [1-9]/, 'background refreshes were tried and failed');
    assert.ok(logs.lines.some((l) => l.includes('issuer keys fetch failed')));

    while (Date.now() - fetchedAt < 2_300) await sleep(50);
    assert.equal(await exchange(sts), 503, 'past keysMaxStale, keys that cannot be refreshed are no longer trusted');

    await startIssuer();
    await sleep(100);
    assert.equal(await exchange(sts), 200, 'the issuer is back: keys fetched again');
  } finally {
    await sts.stop();
  }
});

test('discovery with bearerTokenFile: the token is sent to the issuer, which refuses anonymous readers', async () => {
  requireBearer = true;
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${BEARER}\n`);
  try {
    const anonymous = await startTestSts(writeConfig(dir, config({}), 'anonymous.yaml'), captureLogs());
    try {
      assert.equal(await exchange(anonymous), 503, 'anonymous discovery is refused by this issuer');
    } finally {
      await anonymous.stop();
    }
    seen.withBearer = 0;
    const logs = captureLogs();
    const sts = await startTestSts(writeConfig(dir, config({ bearerTokenFile: tokenFile }), 'bearer.yaml'), logs);
    try {
      assert.equal(await exchange(sts), 200);
      assert.equal(seen.withBearer, 2, 'discovery and JWKS fetch both carried the bearer token');
      assert.ok(!logs.text().includes(BEARER), 'the bearer token is never logged');
    } finally {
      await sts.stop();
    }
  } finally {
    requireBearer = false;
  }
});
