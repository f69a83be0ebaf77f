import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bodyExcerpt, redactSecrets } from '../../src/redact.ts';

const JWT =
  'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YTpiIn0.MEUCIQDk3l9sZ2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('redactSecrets', () => {
  const cases: Array<[string, string, string]> = [
    ['a JWT in prose', `invalid token ${JWT} presented`, 'invalid token [redacted] presented'],
    ['a JWT header alone', 'header eyJhbGciOiJIUzI1NiJ9 seen', 'header [redacted] seen'],
    ['a Bearer credential', 'Authorization: Bearer abc.def', 'Authorization: Bearer [redacted]'],
    ['a Basic credential', 'authorization: basic X3Rva2VuOmFiYw==', 'authorization: basic [redacted]'],
    ['a JSON token field', '{"token":"short-opaque"}', '{"token":"[redacted]"}'],
    ['a JSON password field with spaces', '{"password": "hunter2"}', '{"password": "[redacted]"}'],
    ['a form access_token', 'access_token=abc123&x=1', 'access_token=[redacted]&x=1'],
    ['a long base64 run', `key ${Buffer.alloc(40, 7).toString('base64')} end`, 'key [redacted] end'],
    ['a long base64url run without padding', 'key Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg_x end', 'key [redacted] end'],
    ['a docker auth value outside a field', 'bad auth X3Rva2VuOmV5SmhiR2NpT2lKRlV6STFOaUo5 here', 'bad auth [redacted] here'],
    ['a credential header value', 'password: hunter2 was refused', 'password: [redacted] was refused'],
  ];
  for (const [name, input, expected] of cases) {
    it(`redacts ${name}`, () => {
      assert.equal(redactSecrets(input), expected);
    });
  }

  const kept: Array<[string, string]> = [
    ['ordinary error text', 'identity not found for audience cgr.dev'],
    ['a host name', 'issuer.enforce.dev refused the request'],
    ['a short code', '{"code":"permission_denied","message":"not allowed"}'],
    // What people need to read: identity UIDs as Chainguard issues them (40 hex, and group/identity paths).
    ['a 40-hex Chainguard identity UID', 'ExchangeFailed: identity 720909c9f5279097d847ad02a2f24ba8f59de36a is unknown'],
    ['a Chainguard group/identity path', 'StsForbidden: 720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d may not pull'],
    ['a sha256 digest', `manifest sha256:${'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}`],
    ['the word API after a Secret name', 'KubeUnavailable: patch Secret team-a/pull-secret: API server unreachable (ECONNREFUSED)'],
    ['a long namespace and Secret name', 'KubeForbidden: patch Secret regcred-7f3a9c21-very-long-namespace-name/pull-secret: HTTP 403 Forbidden'],
    ['a ServiceAccount in a namespace', 'KubeNotFound: attach to ServiceAccount builder in namespace team-a-0123456789abcdef0123456789: HTTP 404 NotFound'],
    ['a list-watch error', 'list/watch pull Secrets in namespace outage-1a2b3c4d: API server unreachable (ETIMEDOUT)'],
  ];
  for (const [name, input] of kept) {
    it(`keeps ${name}`, () => {
      assert.equal(redactSecrets(input), input);
    });
  }
});

describe('bodyExcerpt', () => {
  it('is one line, at most 200 characters, ending in an ellipsis when cut', () => {
    const excerpt = bodyExcerpt(`line one\nline\ttwo ${'word '.repeat(100)}`);
    assert.ok(!/[\n\t]/.test(excerpt), 'excerpt has control characters');
    assert.equal(excerpt.length, 200);
    assert.ok(excerpt.startsWith('line one line two word'), excerpt);
    assert.ok(excerpt.endsWith('…'), excerpt);
  });

  it('redacts before cutting, so a token straddling the limit leaves no fragment', () => {
    const body = `${'x '.repeat(95)}${JWT}`;
    const excerpt = bodyExcerpt(body);
    assert.ok(!excerpt.includes('eyJ'), `excerpt holds part of a JWT: ${excerpt}`);
  });
});
