// TokenReview answers: cached for a few seconds at most, shared by concurrent requests with one token,
// a refusal is CredentialInvalid, an apiserver that cannot be asked is KubeUnavailable (503). The
// apiserver side is tested on the bed (test/integration/sts-token-review.test.ts); here a tiny
// in-process KubeApi stands in for its answers, to test the caching logic alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRegcredError } from '../../src/errors.ts';
import { KubeApiError, type KubeApi } from '../../src/kube/api-client.ts';
import { createTokenReviewer, TOKEN_REVIEW_CACHE_MS } from '../../src/sts/token-review.ts';

function apiAnswering(answer: () => Promise<unknown>): KubeApi & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    calls,
    server: 'https://127.0.0.1:6443',
    request: async <T>(method: string, path: string, options?: { body?: unknown }) => {
      calls.push({ method, path, body: options?.body });
      return (await answer()) as T;
    },
    // What the typed AuthenticationV1Api sends through: the body serialized, the answer as JSON text.
    requestText: async (method: string, path: string, options?: { body?: unknown }) => {
      calls.push({ method, path, body: typeof options?.body === 'string' ? JSON.parse(options.body) : options?.body });
      return { status: 201, headers: { 'content-type': 'application/json' }, text: JSON.stringify(await answer()) };
    },
    requestResourceVersion: () => Promise.reject(new Error('no write here')),
    requestList: () => Promise.reject(new Error('no list here')),
    watch: () => Promise.reject(new Error('no watch here')),
    close: () => undefined,
  };
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isRegcredError(err));
    return `${err.code} ${err.status}`;
  }
  return 'accepted';
}

test('an authenticated token is reviewed once per cache period, by concurrent requests together', async () => {
  let authenticated = true;
  const api = apiAnswering(async () => ({ status: { authenticated } }));
  let clock = 0;
  const reviewer = createTokenReviewer({ api, now: () => clock, cacheMs: 60_000 });
  assert.equal(reviewer.cacheMs, TOKEN_REVIEW_CACHE_MS, 'the cache is capped at a few seconds whatever is asked');
  await Promise.all(Array.from({ length: 5 }, () => reviewer.check('token-a', ['sts'])));
  assert.equal(api.calls.length, 1);
  assert.deepEqual((api.calls[0] as { body: { spec: unknown } }).body.spec, { token: 'token-a', audiences: ['sts'] });
  authenticated = false; // the bound Secret is deleted
  clock += TOKEN_REVIEW_CACHE_MS - 1;
  assert.equal(await code(reviewer.check('token-a', ['sts'])), 'accepted', 'within the cache period');
  clock += 1;
  assert.equal(await code(reviewer.check('token-a', ['sts'])), 'CredentialInvalid 401');
  assert.equal(api.calls.length, 2);
});

test('an apiserver that cannot be asked is 503 KubeUnavailable, with no token in the message', async () => {
  const reviewer = createTokenReviewer({ api: apiAnswering(() => Promise.reject(new KubeApiError(403, 'Forbidden'))) });
  try {
    await reviewer.check('secret-token-value', ['sts']);
    assert.fail('expected a refusal');
  } catch (err) {
    assert.ok(isRegcredError(err) && err.code === 'KubeUnavailable' && err.status === 503);
    assert.ok(!err.message.includes('secret-token-value'));
    assert.match(err.message, /HTTP 403/);
  }
});
