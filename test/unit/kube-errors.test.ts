// The Kubernetes API error classifier: codes by status, Retry-After kept, and never a byte of the
// answer's body beyond its Status reason (a body can echo what was sent).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createKubeApi, kubeApiError } from '../../src/kube/api-client.ts';
import { classifyKubeError } from '../../src/kube/errors.ts';

const SECRET = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2ln';

function apiAnswer(code: number, reason: string, headers: Record<string, string> = {}) {
  const body = JSON.stringify({ kind: 'Status', reason, message: `leaked ${SECRET}`, code });
  return kubeApiError(code, headers['retry-after'], body);
}

describe('classifyKubeError', () => {
  const cases: Array<[number, string, string, boolean]> = [
    [403, 'Forbidden', 'KubeForbidden', false],
    [404, 'NotFound', 'KubeNotFound', false],
    [409, 'Conflict', 'KubeConflict', true],
    [422, 'Invalid', 'KubeInvalid', false],
    [400, 'BadRequest', 'KubeInvalid', false],
    [401, 'Unauthorized', 'KubeUnavailable', true],
    [429, 'TooManyRequests', 'KubeUnavailable', true],
    [500, 'InternalError', 'KubeUnavailable', true],
    [503, 'ServiceUnavailable', 'KubeUnavailable', true],
  ];
  for (const [status, reason, code, transient] of cases) {
    it(`maps HTTP ${status} to ${code}`, () => {
      const error = classifyKubeError(apiAnswer(status, reason), 'patch Secret ns/name');
      assert.equal(error.code, code);
      assert.equal(error.transient, transient);
      assert.equal(error.status, status);
      // 400/422 say why (the Status message, redacted); the others only the status and reason.
      const why = status === 400 || status === 422 ? ': leaked [redacted]' : '';
      assert.equal(error.message, `patch Secret ns/name: HTTP ${status} ${reason}${why}`);
      assert.equal(error.cause, undefined, 'the API error must not be kept as cause');
      assert.ok(!JSON.stringify({ m: error.message, s: error.stack }).includes(SECRET));
    });
  }

  it('says why a 422 refused a Secret, from the Status causes, without the refused values', () => {
    // What kube-apiserver 1.34 answers for a Secret over 1 MiB, and for a bad data key.
    const tooLarge = {
      kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422,
      message: 'Secret "pull-secret" is invalid: data: Too long: may not be more than 1048576 bytes',
      details: { name: 'pull-secret', kind: 'secrets', causes: [{ reason: 'FieldValueTooLong', message: 'Too long: may not be more than 1048576 bytes', field: 'data' }] },
    };
    const error = classifyKubeError(kubeApiError(422, undefined, JSON.stringify(tooLarge)), 'patch Secret ns/pull-secret');
    assert.equal(error.message, 'patch Secret ns/pull-secret: HTTP 422 Invalid: data: FieldValueTooLong (Too long: may not be more than 1048576 bytes)');
    const badValue = {
      kind: 'Status', reason: 'Invalid', code: 422, message: `Secret "x" is invalid: data[.dockerconfigjson]: Invalid value: "${SECRET}": bad`,
      details: { causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: "${SECRET}": must be valid JSON`, field: 'data[.dockerconfigjson]' }] },
    };
    const invalid = classifyKubeError(kubeApiError(422, undefined, JSON.stringify(badValue)), 'x');
    assert.equal(invalid.message, 'x: HTTP 422 Invalid: data[.dockerconfigjson]: FieldValueInvalid (Invalid value: "…": must be valid JSON)');
    assert.ok(!invalid.message.includes(SECRET));
  });

  it('names the kind of network failure: refused, TLS, timeout', () => {
    const tls = classifyKubeError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'list Secrets');
    assert.equal(tls.message, 'list Secrets: API server unreachable (TLS: DEPTH_ZERO_SELF_SIGNED_CERT)');
    const timeout = classifyKubeError(Object.assign(new Error('no complete answer within 30000 ms'), { name: 'TimeoutError' }), 'list Secrets');
    assert.equal(timeout.message, 'list Secrets: API server unreachable (timeout)');
  });

  it('keeps Retry-After in milliseconds', () => {
    const error = classifyKubeError(apiAnswer(429, 'TooManyRequests', { 'retry-after': '3' }), 'x');
    assert.equal(error.retryAfterMs, 3000);
  });

  it('drops a Status reason that is not a plain word', () => {
    const error = classifyKubeError(apiAnswer(409, `Conflict ${SECRET}`), 'x');
    assert.equal(error.message, 'x: HTTP 409');
  });

  it('treats network failures as KubeUnavailable and names the system code only', () => {
    const cause = Object.assign(new Error(`connect ECONNREFUSED ${SECRET}`), { code: 'ECONNREFUSED' });
    const error = classifyKubeError(new TypeError('fetch failed', { cause }), 'list Secrets');
    assert.equal(error.code, 'KubeUnavailable');
    assert.equal(error.message, 'list Secrets: API server unreachable (ECONNREFUSED)');
  });

  it('keeps nothing of a body that is not a Status', () => {
    const error = classifyKubeError(kubeApiError(500, undefined, `<html>${SECRET}</html>`), 'x');
    assert.equal(error.message, 'x: HTTP 500');
  });

  it('names a credential failure as such, keeping it transient', async () => {
    // authorization() fails before any connection is made: nothing listens on this address.
    const api = createKubeApi({
      connection: {
        server: new URL('https://127.0.0.1:9'),
        namespace: undefined,
        requestAuth: () => Promise.reject(new Error('exec credential plugin "x" failed (exit code 1)')),
      },
    });
    const err = await api.request('GET', '/api').then(() => undefined, (e: unknown) => e);
    const error = classifyKubeError(err, 'list Secrets');
    assert.equal(error.code, 'KubeUnavailable');
    assert.equal(error.transient, true);
    assert.equal(error.message, 'list Secrets: credentials unavailable: exec credential plugin "x" failed (exit code 1)');
    api.close();
  });
});
