import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { answerRequest, cacheDurationSeconds, type AnswerDeps } from '../../src/credential-provider/answer.ts';
import { DEFAULT_REFRESH_SCHEDULE, refreshAt } from '../../src/token/refresh-time.ts';
import { RegcredError, isRegcredError } from '../../src/errors.ts';
import type { ExchangeRequest, Exchanger, RegistryToken } from '../../src/exchange/exchanger.ts';
import { createPassthroughExchanger } from '../../src/exchange/passthrough.ts';
import { createLogger } from '../../src/log.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { tokenFor, unsignedJwt } from '../support/unsigned-jwt.ts';

const T0 = new Date('2026-12-01T10:00:00Z');
const AUD = 'kube-regcred-sts';
const SA_TOKEN = unsignedJwt({ sub: 'system:serviceaccount:team-a:app', aud: [AUD], exp: 2_000_000_000 });

function registryToken(lifetimeSeconds: number, issuedAt = T0): RegistryToken {
  const token = tokenFor(issuedAt, lifetimeSeconds);
  return { token, ...readJwtTimes(token) };
}

/** A one-answer exchanger: pure logic under test, the real protocol is covered by the contract tests. */
function exchangerAnswering(answer: RegistryToken | RegcredError | ((r: ExchangeRequest) => RegistryToken)): Exchanger & { calls: ExchangeRequest[] } {
  const calls: ExchangeRequest[] = [];
  return {
    name: 'test',
    audience: AUD,
    calls,
    async exchange(request) {
      calls.push(request);
      if (answer instanceof RegcredError) throw answer;
      return typeof answer === 'function' ? answer(request) : answer;
    },
  };
}

function deps(exchanger: Exchanger, extra: Partial<AnswerDeps> = {}): AnswerDeps {
  return {
    mode: 'exchange',
    exchanger,
    clock: { now: () => T0 },
    refresh: DEFAULT_REFRESH_SCHEDULE,
    target: { audience: AUD, identityTemplate: 'ns/{namespace}' },
    passthroughUsername: 'cluster',
    cacheKeyType: 'Registry',
    logger: createLogger({ level: 'silent' }),
    ...extra,
  };
}

const request = (image = 'registry.example:5000/apps/web') => JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image, serviceAccountToken: SA_TOKEN });

describe('cacheDurationSeconds', () => {
  it("is the controller's refresh instant, in whole seconds from now", () => {
    const token = registryToken(3600);
    const expected = Math.floor((refreshAt(token.token, token, DEFAULT_REFRESH_SCHEDULE).getTime() - T0.getTime()) / 1000);
    assert.equal(cacheDurationSeconds(token, T0, DEFAULT_REFRESH_SCHEDULE), expected);
    assert.ok(expected <= 2400 && expected >= 2160, `1/3 of 1 h remaining, up to 10 % earlier: ${expected}`);
  });

  it('never lasts longer than the token, and is 0 once the token is due', () => {
    for (const lifetime of [1, 30, 61, 600, 86_400]) {
      const token = registryToken(lifetime);
      assert.ok(cacheDurationSeconds(token, T0, DEFAULT_REFRESH_SCHEDULE) < lifetime, `lifetime ${lifetime}`);
    }
    const old = registryToken(600, new Date(T0.getTime() - 590_000));
    assert.equal(cacheDurationSeconds(old, T0, DEFAULT_REFRESH_SCHEDULE), 0);
    const expired = registryToken(60, new Date(T0.getTime() - 3_600_000));
    assert.equal(cacheDurationSeconds(expired, T0, DEFAULT_REFRESH_SCHEDULE), 0);
  });
});

describe('answerRequest', () => {
  it("exchanges the Pod's own token for the decided identity and registry, one exchange per call", async () => {
    const token = registryToken(900);
    const exchanger = exchangerAnswering(token);
    const response = JSON.parse(await answerRequest(request(), deps(exchanger)));
    assert.deepEqual(exchanger.calls, [{ identity: 'ns/team-a', registry: 'registry.example:5000', subjectToken: SA_TOKEN }]);
    assert.deepEqual(response.auth, { 'registry.example:5000': { username: '_token', password: token.token } });
    assert.equal(response.cacheDuration, `${cacheDurationSeconds(token, T0, DEFAULT_REFRESH_SCHEDULE)}s`);
  });

  it('keys the auth entry by the image for Image cache keys', async () => {
    const response = JSON.parse(await answerRequest(request(), deps(exchangerAnswering(registryToken(900)), { cacheKeyType: 'Image' })));
    assert.equal(response.cacheKeyType, 'Image');
    assert.deepEqual(Object.keys(response.auth), ['registry.example:5000/apps/web']);
  });

  it("passes the exchanger's coded error on, and refuses an STS echoing the ServiceAccount token", async () => {
    await assert.rejects(answerRequest(request(), deps(exchangerAnswering(new RegcredError('StsForbidden', 'STS answered 403')))), (e: unknown) => isRegcredError(e) && e.code === 'StsForbidden');
    const echo = exchangerAnswering(() => ({ token: SA_TOKEN, expiresAt: new Date(2_000_000_000_000) }));
    await assert.rejects(answerRequest(request(), deps(echo)), (e: unknown) => isRegcredError(e) && e.code === 'StsBadResponse');
  });

  it('refuses before any exchange when the request decides nothing', async () => {
    const exchanger = exchangerAnswering(registryToken(900));
    await assert.rejects(answerRequest(request(), deps(exchanger, { target: { audience: AUD } })), (e: unknown) => isRegcredError(e) && e.code === 'IdentityInvalid');
    await assert.rejects(answerRequest('{}', deps(exchanger)), (e: unknown) => isRegcredError(e) && e.code === 'RequestInvalid');
    assert.equal(exchanger.calls.length, 0);
  });
});

describe('pass-through mode', () => {
  const T_SA = unsignedJwt({ sub: 'system:serviceaccount:team-a:app', aud: [AUD], iat: T0.getTime() / 1000, exp: T0.getTime() / 1000 + 3600 });
  const passthroughRequest = (token: string) =>
    JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: 'registry.example:5000/apps/web', serviceAccountToken: token });

  it("answers the Pod's own token as the password, with the configured username and no exchange", async () => {
    const response = JSON.parse(await answerRequest(passthroughRequest(T_SA), deps(createPassthroughExchanger(), { mode: 'passthrough', target: { audience: AUD } })));
    assert.deepEqual(Object.keys(response.auth), ['registry.example:5000']);
    assert.equal(response.auth['registry.example:5000'].username, 'cluster');
    assert.ok(response.auth['registry.example:5000'].password === T_SA, 'the password is the ServiceAccount token');
  });

  it("caches no longer than the controller's rule allows for the token's own lifetime", async () => {
    const response = JSON.parse(await answerRequest(passthroughRequest(T_SA), deps(createPassthroughExchanger(), { mode: 'passthrough', target: { audience: AUD } })));
    const seconds = Number(String(response.cacheDuration).replace(/s$/, ''));
    assert.ok(seconds > 0 && seconds <= 2400, `cacheDuration ${response.cacheDuration}`);
  });

  it('still refuses a token without the audience, whatever the mode', async () => {
    const wrong = unsignedJwt({ sub: 'system:serviceaccount:team-a:app', aud: ['other'], exp: 2_000_000_000 });
    await assert.rejects(answerRequest(passthroughRequest(wrong), deps(createPassthroughExchanger(), { mode: 'passthrough' })), (err) => isRegcredError(err) && err.code === 'RequestInvalid');
  });
});
