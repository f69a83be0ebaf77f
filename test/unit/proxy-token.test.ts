// Registry token verification in the proxy, with tokens minted by the sts's own code
// (mintRegistryToken) in every header style it writes, and the key selection behind it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { RegcredError } from '../../src/errors.ts';
import { allows } from '../../src/proxy/access.ts';
import { createRegistryTokenVerifier } from '../../src/proxy/token-verifier.ts';
import { keysFromJwks, keysFromPem, selectKey, staticKeySource } from '../../src/proxy/trusted-keys.ts';
import type { HeaderStyle } from '../../src/sts/config-schema.ts';
import { mintRegistryToken } from '../../src/sts/registry-token.ts';
import { createSigningKey, publicJwks, type SigningKey } from '../../src/sts/signing-key.ts';
import { createSigningMaterial } from './sts-fixtures.ts';

const SERVICE = 'registry.test';
const ISSUER = 'kube-regcred-sts-test';
const NOW = new Date('2026-12-01T12:00:00Z');

const material = createSigningMaterial('ec');
const other = createSigningMaterial('rsa');
const key = await createSigningKey({ keyPem: material.leaf.keyPem, certificatePem: material.leaf.certPem });
const otherKey = await createSigningKey({ keyPem: other.leaf.keyPem, certificatePem: other.leaf.certPem });

function mint(signing: SigningKey, style: HeaderStyle, overrides: { service?: string; issuer?: string; now?: Date; lifetimeMs?: number; exchange?: boolean } = {}) {
  return mintRegistryToken(
    { key: signing, headerStyle: style, tokenIssuer: overrides.issuer ?? ISSUER, service: overrides.service ?? SERVICE },
    { subject: 'ci', access: [{ type: 'repository', name: 'apps/a', actions: ['pull'] }], lifetimeMs: overrides.lifetimeMs ?? 300_000, now: overrides.now ?? NOW, ...(overrides.exchange ? { exchange: true } : {}) },
  ).then((minted) => minted.token);
}

async function verifierFor(source: 'pem' | 'jwks') {
  const keys = source === 'pem' ? await keysFromPem(readFileSync(material.leaf.certFile, 'utf8')) : await keysFromJwks(publicJwks(key));
  return createRegistryTokenVerifier({ issuer: ISSUER, service: SERVICE, keys: staticKeySource([...keys, ...(await keysFromPem(other.ca.certPem))]) });
}

async function refusal(promise: Promise<unknown>): Promise<RegcredError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof RegcredError, `expected a refusal, got ${String(err)}`);
  return err;
}

describe('verifying sts registry tokens', () => {
  for (const source of ['pem', 'jwks'] as const) {
    for (const style of ['x5c', 'jwk', 'kid', 'jwks'] as const) {
      test(`${style} header, keys from ${source === 'pem' ? 'the signing certificate' : 'the JWKS'}`, async () => {
        const verified = await (await verifierFor(source))(await mint(key, style), NOW);
        assert.equal(verified.subject, 'ci');
        assert.equal(allows(verified.access, 'apps/a', 'pull'), true);
        assert.equal(allows(verified.access, 'apps/a', 'push'), false);
      });
    }
  }

  test('a token of another key is refused in every style, even when it embeds its own key', async () => {
    const verify = await verifierFor('pem');
    for (const style of ['x5c', 'jwk', 'kid', 'jwks'] as const) {
      const err = await refusal(verify(await mint(otherKey, style), NOW));
      assert.equal(err.code, 'CredentialInvalid', style);
    }
  });

  test('aud must be the service, iss the token issuer', async () => {
    const verify = await verifierFor('pem');
    assert.equal((await refusal(verify(await mint(key, 'x5c', { service: 'elsewhere' }), NOW))).code, 'AudienceInvalid');
    assert.equal((await refusal(verify(await mint(key, 'x5c', { issuer: 'someone-else' }), NOW))).code, 'CredentialInvalid');
  });

  test('exp and nbf with 60 s of leeway', async () => {
    const verify = await verifierFor('pem');
    const token = await mint(key, 'x5c', { lifetimeMs: 60_000 });
    await verify(token, new Date(NOW.getTime() + 110_000));
    assert.match((await refusal((await verifierFor('pem'))(token, new Date(NOW.getTime() + 130_000)))).message, /expired/);
    const future = await mint(key, 'x5c', { now: new Date(NOW.getTime() + 50_000) });
    await (await verifierFor('pem'))(future, NOW);
    await refusal((await verifierFor('pem'))(await mint(key, 'x5c', { now: new Date(NOW.getTime() + 90_000) }), NOW));
  });

  test('an exchange token (a credential for /token) is not a registry token', async () => {
    assert.match((await refusal((await verifierFor('pem'))(await mint(key, 'x5c', { exchange: true }), NOW))).message, /exchange token/);
  });

  test('HS256 and none are refused whatever the header says', async () => {
    const verify = await verifierFor('pem');
    const hs = await new SignJWT({ access: [] }).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setAudience(SERVICE).setExpirationTime(Math.floor(NOW.getTime() / 1000) + 60).sign(new TextEncoder().encode('k'.repeat(32)));
    assert.equal((await refusal(verify(hs, NOW))).code, 'CredentialInvalid');
    const [header, payload] = (await mint(key, 'x5c')).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`;
    assert.equal((await refusal(verify(none, NOW))).code, 'CredentialInvalid');
    assert.ok(header);
  });
});

describe('selectKey', () => {
  test('without x5c/jwk/kid: only when exactly one trusted key has the algorithm', async () => {
    const one = await keysFromPem(material.leaf.certPem);
    assert.equal(selectKey(one, { alg: 'ES256' }), one[0]);
    assert.equal(selectKey(one, { alg: 'RS256' }), undefined);
    const two = [...one, ...(await keysFromPem(material.ca.certPem))];
    assert.equal(selectKey(two, { alg: 'ES256' }), undefined);
  });
  test('unreadable PEM and empty JWKS are configuration errors', async () => {
    await assert.rejects(keysFromPem('no pem here'), /no RSA or EC P-256 public key/);
    await assert.rejects(keysFromJwks({ keys: [] }), /no RSA or EC P-256 public key/);
    await assert.rejects(keysFromJwks({}), /not a JWKS/);
  });
});
