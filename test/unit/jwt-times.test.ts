import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { RegcredError } from '../../src/errors.ts';
import { unsignedJwt } from '../support/unsigned-jwt.ts';

describe('readJwtTimes', () => {
  it('reads iat, exp and nbf as instants', () => {
    assert.deepEqual(readJwtTimes(unsignedJwt({ iat: 1_800_000_000, nbf: 1_800_000_001, exp: 1_800_003_600 })), {
      issuedAt: new Date(1_800_000_000_000),
      notBefore: new Date(1_800_000_001_000),
      expiresAt: new Date(1_800_003_600_000),
    });
  });

  it('reads exp alone', () => {
    assert.deepEqual(readJwtTimes(unsignedJwt({ exp: 1_800_003_600 })), { expiresAt: new Date(1_800_003_600_000) });
  });

  it('ignores non-numeric iat and nbf instead of failing', () => {
    assert.deepEqual(readJwtTimes(unsignedJwt({ iat: 'yesterday', nbf: null, exp: 1_800_003_600 })), {
      expiresAt: new Date(1_800_003_600_000),
    });
  });

  const secretish = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0';
  const invalid: Array<[string, string]> = [
    ['an opaque string', secretish],
    ['two segments', `${secretish}.${secretish}`],
    ['a payload that is not JSON', `eyJhbGciOiJFUzI1NiJ9.${secretish}.${secretish}`],
    ['a payload that is a JSON array', `eyJhbGciOiJFUzI1NiJ9.${Buffer.from('[1800003600]').toString('base64url')}.${secretish}`],
    ['a JWE (five segments)', `${secretish}.${secretish}.${secretish}.${secretish}.${secretish}`],
    ['no exp', unsignedJwt({ iat: 1_800_000_000, sub: secretish })],
    ['a string exp', unsignedJwt({ exp: '1800003600', sub: secretish })],
    ['an exp beyond any Date', unsignedJwt({ exp: 1e300, sub: secretish })],
  ];
  for (const [name, token] of invalid) {
    it(`rejects ${name} with RegistryTokenInvalid and does not echo it`, () => {
      assert.throws(
        () => readJwtTimes(token),
        (error: unknown) => {
          assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
          assert.equal(error.code, 'RegistryTokenInvalid');
          assert.ok(!error.message.includes(secretish), `message echoes the token: ${error.message}`);
          return true;
        },
      );
    });
  }
});
