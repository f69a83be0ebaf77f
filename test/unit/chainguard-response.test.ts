import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseExpiry, parseTokenResponse } from '../../src/exchange/chainguard-response.ts';
import { RegcredError } from '../../src/errors.ts';
import { tokenFor, unsignedJwt } from '../support/unsigned-jwt.ts';

const NOW = new Date('2026-11-23T09:00:00Z');
const JWT = tokenFor(NOW, 600);
const EXP = new Date(NOW.getTime() + 600_000);

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return error instanceof RegcredError ? error.code : String(error);
  }
  return undefined;
};

describe('parseTokenResponse', () => {
  it('takes the JWT exp without expiry, and the earlier of the two with it', () => {
    assert.equal(parseTokenResponse(JSON.stringify({ token: JWT }), 200).expiresAt.getTime(), EXP.getTime());
    const earlier = new Date(EXP.getTime() - 60_000);
    assert.equal(parseTokenResponse(JSON.stringify({ token: JWT, expiry: earlier.toISOString() }), 200).expiresAt.getTime(), earlier.getTime());
    const later = new Date(EXP.getTime() + 3_600_000).toISOString();
    assert.equal(parseTokenResponse(JSON.stringify({ token: JWT, expiry: later }), 200).expiresAt.getTime(), EXP.getTime(), 'a later expiry does not outlive the JWT');
  });

  it('keeps iat/nbf of a JWT and drops refresh_token in either spelling', () => {
    const token = parseTokenResponse(JSON.stringify({ token: JWT, refresh_token: 'r1', refreshToken: 'r2' }), 200);
    assert.deepEqual(Object.keys(token).sort(), ['expiresAt', 'issuedAt', 'token']);
  });

  it('accepts an opaque token only with expiry', () => {
    const expiry = '2026-11-23T09:10:00.123456Z';
    const token = parseTokenResponse(JSON.stringify({ token: 'opaque-token', expiry }), 200);
    assert.deepEqual(token, { token: 'opaque-token', expiresAt: new Date(expiry) });
    assert.equal(codeOf(() => parseTokenResponse(JSON.stringify({ token: 'opaque-token' }), 200)), 'RegistryTokenInvalid');
    assert.equal(codeOf(() => parseTokenResponse(JSON.stringify({ token: unsignedJwt({ iat: 1 }), expiry }), 200)), undefined, 'a JWT without exp but with expiry');
  });

  it('refuses an expiry that is not RFC 3339, without echoing the body', () => {
    for (const expiry of ['tomorrow', 1_800_000_000, '2026-11-23', '2026-11-23T09:10:00', { seconds: 5 }]) {
      assert.equal(codeOf(() => parseExpiry(expiry, 200)), 'StsBadResponse', `expiry ${JSON.stringify(expiry)}`);
    }
    assert.equal(parseExpiry(undefined, 200), undefined);
    assert.equal(parseExpiry(null, 200), undefined);
    assert.equal(parseExpiry('2026-11-23T10:10:00+01:00', 200)?.toISOString(), '2026-11-23T09:10:00.000Z');
  });
});
