import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyStsFailure, classifyStsResponse, parseRetryAfterMs } from '../../src/exchange/chainguard.ts';
import { RegcredError, type ErrorCode } from '../../src/errors.ts';
import { tokenFor, unsignedJwt } from '../support/unsigned-jwt.ts';

const NOW = new Date('2026-11-23T09:00:00Z');
const JWT_IN_BODY = tokenFor(NOW, 600);

function classify(status: number, body: string, headers: Record<string, string> = {}): unknown {
  try {
    return classifyStsResponse(status, body, new Headers(headers), NOW);
  } catch (error) {
    return error;
  }
}

describe('classifyStsResponse', () => {
  const failures: Array<[number, string, ErrorCode, boolean]> = [
    [500, 'oops', 'StsServerError', true],
    [502, '<html>bad gateway</html>', 'StsServerError', true],
    [503, '', 'StsServerError', true],
    [429, '{"message":"slow down"}', 'StsRateLimited', true],
    [401, `{"message":"invalid token ${JWT_IN_BODY}"}`, 'StsUnauthorized', false],
    [403, '{"message":"denied"}', 'StsForbidden', false],
    [400, '{"message":"bad request"}', 'StsRejected', false],
    [404, 'not found', 'StsRejected', false],
    [307, '', 'StsRejected', false],
    [204, '', 'StsBadResponse', true],
    [200, '<html>hello</html>', 'StsBadResponse', true],
    [200, '{"access_token":"x"}', 'StsBadResponse', true],
    [200, '{"token":42}', 'StsBadResponse', true],
    [200, '{"token":""}', 'StsBadResponse', true],
    [200, 'null', 'StsBadResponse', true],
    [200, '{"token":"opaque-not-a-jwt"}', 'RegistryTokenInvalid', true],
    [200, JSON.stringify({ token: unsignedJwt({ iat: 1_800_000_000 }) }), 'RegistryTokenInvalid', true],
  ];
  for (const [status, body, code, transient] of failures) {
    it(`maps ${status} ${body.slice(0, 30) || '(empty)'} to ${code} (${transient ? 'transient' : 'permanent'})`, () => {
      const error = classify(status, body);
      assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
      assert.equal(error.code, code);
      assert.equal(error.transient, transient);
      assert.equal(error.status, status);
      assert.ok(!error.message.includes('eyJ'), `message holds a JWT: ${error.message}`);
    });
  }

  it('returns the token with the instants read from it on a good 200', () => {
    const token = tokenFor(NOW, 600);
    assert.deepEqual(classify(200, JSON.stringify({ token })), {
      token,
      issuedAt: new Date(Math.floor(NOW.getTime() / 1000) * 1000),
      expiresAt: new Date((Math.floor(NOW.getTime() / 1000) + 600) * 1000),
    });
  });

  it('quotes a short, redacted part of the body in the message', () => {
    const error = classify(403, `{"message":"identity not allowed to pull", "debug":"${'z'.repeat(400)}"}`);
    assert.ok(error instanceof RegcredError);
    assert.match(error.message, /^STS answered 403: \{"message":"identity not allowed to pull"/);
    assert.ok(error.message.length < 240, `message is ${error.message.length} characters long`);
  });

  it('carries Retry-After of a 429 in seconds or as an HTTP date', () => {
    const seconds = classify(429, '', { 'retry-after': '12' });
    const date = classify(429, '', { 'retry-after': new Date(NOW.getTime() + 30_000).toUTCString() });
    const none = classify(429, '');
    assert.equal((seconds as RegcredError).retryAfterMs, 12_000);
    assert.equal((date as RegcredError).retryAfterMs, 30_000);
    assert.equal((none as RegcredError).retryAfterMs, undefined);
  });
});

describe('parseRetryAfterMs', () => {
  const cases: Array<[string | null, number | undefined]> = [
    [null, undefined],
    ['0', 0],
    [' 7 ', 7_000],
    ['Mon, 23 Nov 2026 09:01:00 GMT', 60_000],
    ['Mon, 23 Nov 2026 08:00:00 GMT', 0],
    ['soon', undefined],
    ['-5', undefined],
  ];
  for (const [value, expected] of cases) {
    it(`reads ${JSON.stringify(value)} as ${expected}`, () => {
      assert.equal(parseRetryAfterMs(value, NOW), expected);
    });
  }
});

describe('classifyStsFailure', () => {
  it('reports our own timeout as StsTimeout', () => {
    assert.equal(classifyStsFailure(new DOMException('timed out', 'TimeoutError'), true).code, 'StsTimeout');
  });

  it('reports a network error as StsUnreachable, naming the system error code', () => {
    const error = classifyStsFailure(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), false);
    assert.equal(error.code, 'StsUnreachable');
    assert.match(error.message, /ECONNREFUSED/);
  });

  it('passes a RegcredError through unchanged', () => {
    const original = new RegcredError('StsBadResponse', 'too large');
    assert.equal(classifyStsFailure(original, true), original);
  });
});
