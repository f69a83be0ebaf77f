// Issuer keys over real HTTPS (private CA): discovery, JWKS cached and refetched only for an unknown
// kid after the cooldown, key rotation, and failures that become 503s without hammering the issuer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { isRegcredError } from '../../src/errors.ts';
import { createIssuerKeys } from '../../src/sts/issuer-keys.ts';
import { verifyOidcToken, type TrustedIssuer } from '../../src/sts/oidc-verify.ts';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../support/pki.ts';
import { scratchDir } from '../support/scratch.ts';

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

let ca: CertificateAuthority;
let server: Server;
let issuerUrl: string;
let keys: Key[] = [];
const hits = { discovery: 0, jwks: 0 };
let advertisedIssuer: (() => string) | undefined;

async function newKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256' } };
}

function sign(key: Key, subject = 'someone'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: subject })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(issuerUrl)
    .setAudience('sts')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(key.privateKey);
}

function trusted(options: Parameters<typeof createIssuerKeys>[1]): TrustedIssuer {
  return {
    name: 'test',
    issuer: issuerUrl,
    audiences: ['sts'],
    algorithms: ['RS256'],
    keys: createIssuerKeys({ issuer: issuerUrl, caPem: ca.certPem }, options),
  };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isRegcredError(err));
    return err.code;
  }
  assert.fail('expected a refusal');
}

before(async () => {
  const dir = scratchDir('sts-issuer-');
  ca = createCertificateAuthority(dir);
  const tls = issueCertificate(ca, { commonName: 'issuer', sans: ['127.0.0.1'] });
  keys = [await newKey('k1')];
  server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      hits.discovery++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ issuer: advertisedIssuer?.() ?? issuerUrl, jwks_uri: `${issuerUrl}/keys` }),
      );
    } else if (req.url === '/keys') {
      hits.jwks++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuerUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('discovery once, JWKS once, then every verification comes from the cache', async () => {
  hits.discovery = hits.jwks = 0;
  const issuer = trusted({ cooldownMs: 60_000 });
  const results = await Promise.all(Array.from({ length: 20 }, async () => verifyOidcToken(await sign(keys[0]!), issuer, new Date())));
  assert.equal(results.length, 20);
  assert.equal(hits.discovery, 1, 'concurrent first requests share one discovery');
  assert.equal(hits.jwks, 1);
  for (let i = 0; i < 20; i++) await verifyOidcToken(await sign(keys[0]!), issuer, new Date());
  assert.deepEqual(hits, { discovery: 1, jwks: 1 });
});

test('an unknown kid refetches the JWKS at once, at most once per cooldown; a rotated-in key then verifies', async () => {
  hits.discovery = hits.jwks = 0;
  let clock = 1_000_000;
  const issuer = trusted({ cooldownMs: 30_000, now: () => clock });
  await verifyOidcToken(await sign(keys[0]!), issuer, new Date());
  assert.equal(hits.jwks, 1);
  const stranger = await newKey('stranger');
  // A flood of unknown kids inside the cooldown causes no fetch at all.
  for (let i = 0; i < 10; i++) assert.equal(await refusal(verifyOidcToken(await sign(stranger), issuer, new Date())), 'CredentialInvalid');
  assert.equal(hits.jwks, 1);
  // The issuer rotates in a new key; after the cooldown one unknown kid triggers one fetch, at once.
  const rotated = await newKey('k2');
  keys = [keys[0]!, rotated];
  clock += 30_000;
  await verifyOidcToken(await sign(rotated), issuer, new Date());
  assert.equal(hits.jwks, 2);
  await verifyOidcToken(await sign(rotated), issuer, new Date());
  assert.equal(hits.jwks, 2);
  keys = [keys[0]!];
});

test('keys are refreshed in the background once due; the request that finds them due does not wait', async () => {
  hits.discovery = hits.jwks = 0;
  let clock = 5_000_000;
  const issuer = trusted({ refreshMs: 60_000, now: () => clock });
  await verifyOidcToken(await sign(keys[0]!), issuer, new Date());
  clock += 59_000;
  await verifyOidcToken(await sign(keys[0]!), issuer, new Date());
  assert.equal(hits.jwks, 1, 'not due yet');
  clock += 2_000;
  await verifyOidcToken(await sign(keys[0]!), issuer, new Date());
  await sleep(200);
  assert.equal(hits.jwks, 2, 'one background refresh once due');
});

test('a discovery document naming another issuer is refused (503), and not retried before the retry interval', async () => {
  hits.discovery = hits.jwks = 0;
  advertisedIssuer = () => 'https://evil.test';
  try {
    const issuer = trusted({ discoveryRetryMs: 60_000 });
    for (let i = 0; i < 5; i++) assert.equal(await refusal(verifyOidcToken(await sign(keys[0]!), issuer, new Date())), 'JwksUnavailable');
    assert.equal(hits.discovery, 1);
    assert.equal(hits.jwks, 0);
  } finally {
    advertisedIssuer = undefined;
  }
});

test('an issuer whose TLS chain is not trusted is unavailable, not accepted', async () => {
  const issuer: TrustedIssuer = { ...trusted({}), keys: createIssuerKeys({ issuer: issuerUrl }, { discoveryRetryMs: 0 }) };
  assert.equal(await refusal(verifyOidcToken(await sign(keys[0]!), issuer, new Date())), 'JwksUnavailable');
});
