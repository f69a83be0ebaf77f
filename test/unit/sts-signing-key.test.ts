// The signing key in every form a registry may look it up by: libtrust kid, RFC 7638 kid, x5c, jwk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { isRegcredError } from '../../src/errors.ts';
import { createSigningKey, libtrustKeyId, publicJwks, tokenHeader } from '../../src/sts/signing-key.ts';
import { createSigningMaterial } from './sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

/** RFC 4648 base32 decoding, written independently of the encoder under test. */
function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...text].map((c) => alphabet.indexOf(c).toString(2).padStart(5, '0')).join('');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

test('libtrust kid: 12 groups of 4 base32 characters = the first 240 bits of SHA-256(SPKI DER)', () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = libtrustKeyId(publicKey);
  assert.match(kid, /^[A-Z2-7]{4}(:[A-Z2-7]{4}){11}$/);
  const digest = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
  assert.deepEqual(base32Decode(kid.replaceAll(':', '')), digest.subarray(0, 30));
});

test('an EC P-256 key signs ES256, an RSA key RS256; kids and x5c are derived from them', async () => {
  const dir = scratchDir('sts-key-');
  for (const [type, alg] of [['ec', 'ES256'], ['rsa', 'RS256']] as const) {
    const { leaf, ca } = createSigningMaterial(type, join(dir));
    const key = await createSigningKey({ keyPem: leaf.keyPem, certificatePem: leaf.certPem + ca.certPem });
    assert.equal(key.alg, alg);
    assert.equal(key.x5c.length, 2, 'the whole chain, leaf first');
    assert.equal(key.x5c[0], Buffer.from(leaf.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64'));
    assert.equal(key.thumbprintKid, await calculateJwkThumbprint(await exportJWK(key.publicKey)));
    assert.deepEqual(tokenHeader(key, 'kid'), { typ: 'JWT', alg, kid: key.libtrustKid });
    assert.deepEqual(tokenHeader(key, 'jwks'), { typ: 'JWT', alg, kid: key.thumbprintKid });
    assert.deepEqual(tokenHeader(key, 'x5c'), { typ: 'JWT', alg, x5c: key.x5c });
    const jwk = tokenHeader(key, 'jwk').jwk as Record<string, string>;
    assert.equal(jwk.kid, key.libtrustKid);
    assert.equal(jwk.d, undefined, 'never the private part');
    const served = publicJwks(key).keys[0]!;
    assert.equal(served.kid, key.thumbprintKid);
    assert.equal(served.d, undefined);
  }
});

test('refuses keys Distribution cannot use, and a certificate for another key', async () => {
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  for (const keyPem of [small, p384, ed, 'not a key']) {
    await assert.rejects(createSigningKey({ keyPem }), (err) => isRegcredError(err) && err.code === 'SigningKeyInvalid');
  }
  const dir = scratchDir('sts-key-');
  const one = createSigningMaterial('ec', join(dir, ''));
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await assert.rejects(createSigningKey({ keyPem: other, certificatePem: readFileSync(one.leaf.certFile, 'utf8') }), /not for the signing key/);
});
