// Registry tokens signed with node:crypto (src/sts/jws-signer.ts) verify with jose for both algorithms,
// including ECDSA signatures whose r or s is shorter than 32 bytes or needs DER's leading zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { compactVerify } from 'jose';
import { createJwsSigner, derToJoseSignature } from '../../src/sts/jws-signer.ts';
import { createSigningKey } from '../../src/sts/signing-key.ts';

for (const [alg, type] of [['ES256', 'ec'], ['RS256', 'rsa']] as const) {
  test(`${alg}: tokens verify with jose, header as configured, payload as given`, async () => {
    const pair = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = await createSigningKey({ keyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string });
    const signer = createJwsSigner(key, 'jwks');
    // Enough ES256 signatures that some have an r or s with a leading zero byte (p ≈ 1/128 each).
    for (let i = 0; i < (alg === 'ES256' ? 600 : 20); i++) {
      const token = signer.sign({ sub: `s${i}`, access: [] });
      const { payload, protectedHeader } = await compactVerify(token, pair.publicKey, { algorithms: [alg] });
      assert.deepEqual(protectedHeader, { typ: 'JWT', alg, kid: key.thumbprintKid });
      assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), { sub: `s${i}`, access: [] });
    }
  });
}

test('DER to r||s: node verifies the result as an ieee-p1363 signature', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  for (let i = 0; i < 300; i++) {
    const data = Buffer.from(`message ${i}`);
    const raw = derToJoseSignature(sign('sha256', data, privateKey));
    assert.equal(raw.length, 64);
    assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw), `signature ${i} does not verify`);
  }
  assert.throws(() => derToJoseSignature(Buffer.from([1, 2, 3])), /not a DER/);
});
