import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRequest, encodeResponse, type CredentialAnswer } from '../../src/credential-provider/api.ts';
import { isRegcredError } from '../../src/errors.ts';

const V1 = 'credentialprovider.kubelet.k8s.io/v1';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';

function refusal(raw: string): string {
  try {
    decodeRequest(raw);
  } catch (err) {
    assert.ok(isRegcredError(err));
    assert.equal(err.code, 'RequestInvalid');
    assert.ok(!err.message.includes(TOKEN), 'the message never quotes the token');
    return err.message;
  }
  assert.fail(`expected ${raw} to be refused`);
}

describe('decodeRequest', () => {
  it('reads the exact v1 field names the kubelet sends', () => {
    const raw = JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest', image: '127.0.0.1:5000/apps/web', serviceAccountToken: TOKEN, serviceAccountAnnotations: { 'kube-regcred.io/identity': 'builder' } });
    assert.deepEqual(decodeRequest(raw), { image: '127.0.0.1:5000/apps/web', serviceAccountToken: TOKEN, serviceAccountAnnotations: { 'kube-regcred.io/identity': 'builder' } });
  });

  it('takes a request without the optional ServiceAccount fields (omitempty)', () => {
    assert.deepEqual(decodeRequest(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest', image: 'cgr.dev/x' })), { image: 'cgr.dev/x' });
  });

  it('refuses unknown fields, like the kubelet decodes our answer', () => {
    assert.match(refusal(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest', image: 'x', serviceAccountTokens: TOKEN })), /unknown field "serviceAccountTokens"/);
    assert.match(refusal(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest', image: 'x', ServiceAccountToken: TOKEN })), /unknown field "ServiceAccountToken"/);
  });

  it('refuses another apiVersion, kind, or wrongly typed fields', () => {
    assert.match(refusal(JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1beta1', kind: 'CredentialProviderRequest', image: 'x' })), /apiVersion/);
    assert.match(refusal(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderResponse', image: 'x' })), /kind/);
    assert.match(refusal(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest' })), /image/);
    assert.match(refusal(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest', image: 'x', serviceAccountToken: 5 })), /serviceAccountToken/);
    assert.match(refusal(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest', image: 'x', serviceAccountAnnotations: { a: 1 } })), /serviceAccountAnnotations/);
    assert.match(refusal(JSON.stringify({ apiVersion: V1, kind: 'CredentialProviderRequest', image: 'x', serviceAccountAnnotations: ['a'] })), /serviceAccountAnnotations/);
  });

  it('refuses what is not a JSON object without quoting it', () => {
    assert.match(refusal(`{"serviceAccountToken": "${TOKEN}"`), /not JSON/);
    assert.match(refusal(JSON.stringify([TOKEN])), /not a JSON object/);
    assert.match(refusal(' '.repeat(1024 * 1024 + 1)), /larger than/);
  });
});

/**
 * What the kubelet (v1.34 pkg/credentialprovider/plugin) does with our stdout: strict decoding into
 * CredentialProviderResponse (unknown or duplicate fields are errors), apiVersion and kind checked,
 * cacheKeyType one of Image|Registry|Global, cacheDuration a Go duration, auth entries {username, password}.
 */
function kubeletAccepts(stdout: string): void {
  const response = JSON.parse(stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(response).filter((k) => !['apiVersion', 'kind', 'cacheKeyType', 'cacheDuration', 'auth'].includes(k)), []);
  assert.equal(response.apiVersion, V1);
  assert.equal(response.kind, 'CredentialProviderResponse');
  assert.ok(['Image', 'Registry', 'Global'].includes(response.cacheKeyType as string));
  if (response.cacheDuration !== undefined) assert.match(response.cacheDuration as string, /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  for (const entry of Object.values(response.auth as Record<string, Record<string, unknown>>)) {
    assert.deepEqual(Object.keys(entry).sort(), ['password', 'username']);
    assert.equal(typeof entry.username, 'string');
    assert.equal(typeof entry.password, 'string');
  }
}

describe('encodeResponse', () => {
  const answer: CredentialAnswer = { cacheKeyType: 'Registry', cacheDurationSeconds: 540, pattern: '127.0.0.1:5000', username: '_token', password: TOKEN };

  it('writes exactly the v1 fields, with cacheDuration as whole seconds', () => {
    assert.deepEqual(JSON.parse(encodeResponse(answer)), {
      apiVersion: V1,
      kind: 'CredentialProviderResponse',
      cacheKeyType: 'Registry',
      cacheDuration: '540s',
      auth: { '127.0.0.1:5000': { username: '_token', password: TOKEN } },
    });
  });

  it('emits only what the kubelet accepts, whatever the strings hold', () => {
    for (const pattern of ['cgr.dev', '127.0.0.1:5000/apps/web', '__proto__', 'a"b\\c', '*.example.com']) {
      for (const password of [TOKEN, '', 'ü"\n\u0000', '{"x":1}']) {
        for (const cacheKeyType of ['Image', 'Registry'] as const) {
          for (const cacheDurationSeconds of [0, 1, 86_400]) kubeletAccepts(encodeResponse({ ...answer, pattern, password, cacheKeyType, cacheDurationSeconds }));
        }
      }
    }
  });

  it('throws instead of writing an answer the kubelet would refuse', () => {
    const bad: Array<Partial<CredentialAnswer> & Record<string, unknown>> = [
      { cacheKeyType: 'Global' as never },
      { cacheKeyType: 'registry' as never },
      { cacheDurationSeconds: -1 },
      { cacheDurationSeconds: 1.5 },
      { cacheDurationSeconds: Number.NaN },
      { pattern: '' },
      { password: undefined as never },
    ];
    for (const change of bad) {
      assert.throws(() => encodeResponse({ ...answer, ...change }), (err: unknown) => isRegcredError(err) && err.code === 'Internal', JSON.stringify(change));
    }
  });

  it('never carries a field of the answer it does not know', () => {
    const out = JSON.parse(encodeResponse({ ...answer, extra: 'x' } as CredentialAnswer));
    kubeletAccepts(JSON.stringify(out));
    assert.ok(!JSON.stringify(out).includes('extra'));
  });
});
