import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS } from '../../src/annotations.ts';
import { decide } from '../../src/controller/decide.ts';
import { DEFAULT_REFRESH_SCHEDULE, refreshAt } from '../../src/token/refresh-time.ts';
import { serializeDockerConfig, withRegistryToken } from '../../src/dockerconfig.ts';
import { RegcredError } from '../../src/errors.ts';
import type { ExchangeRequest, Exchanger, RegistryToken } from '../../src/exchange/exchanger.ts';
import { createTokenCache } from '../../src/exchange/token-cache.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { tokenFor, unsignedJwt } from '../support/unsigned-jwt.ts';

const T0 = new Date('2026-11-23T09:00:00Z');

/** A settable clock. */
function manualClock(start = T0) {
  let nowMs = start.getTime();
  return { now: () => new Date(nowMs), set: (d: Date) => void (nowMs = d.getTime()), advance: (ms: number) => void (nowMs += ms) };
}

/**
 * An in-process exchanger for the cache's pure logic: issues unsigned JWTs living `lifetimeSeconds`
 * from the clock's now, and can be held (answers wait for release()) or made to fail.
 */
function fakeExchanger(clock: { now(): Date }, lifetimeSeconds = 3600) {
  const requests: ExchangeRequest[] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let failWith: Error | undefined;
  const exchanger: Exchanger = {
    name: 'fake',
    audience: 'fake.test',
    async exchange(request) {
      requests.push(request);
      if (gate) await gate;
      if (failWith) throw failWith;
      const token = tokenFor(clock.now(), lifetimeSeconds);
      return { token, ...readJwtTimes(token) };
    },
  };
  return {
    exchanger,
    requests,
    hold: () => void (gate = new Promise<void>((r) => (open = r))),
    release: () => {
      gate = undefined;
      open?.();
    },
    fail: (error: Error | undefined) => void (failWith = error),
  };
}

const key = { identity: 'abc/def', registry: 'cgr.dev', subject: 'system:serviceaccount:kube-regcred:controller' };

describe('token cache', () => {
  it('shares one in-flight exchange among concurrent callers, and one subject-token fetch', async () => {
    const clock = manualClock();
    const fake = fakeExchanger(clock);
    const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
    let subjectTokenCalls = 0;
    const subjectToken = async () => {
      subjectTokenCalls += 1;
      return 'sa-jwt';
    };
    fake.hold();
    const pending = Array.from({ length: 10 }, () => cache.get({ ...key, subjectToken }));
    await new Promise((r) => setImmediate(r));
    fake.release();
    const tokens = await Promise.all(pending);
    assert.equal(fake.requests.length, 1, `expected 1 exchange, got ${fake.requests.length}`);
    assert.equal(subjectTokenCalls, 1, `expected 1 subject-token fetch, got ${subjectTokenCalls}`);
    assert.equal(new Set(tokens.map((t) => t.token)).size, 1, 'callers got different tokens');
    assert.deepEqual(fake.requests[0], { identity: key.identity, registry: key.registry, subjectToken: 'sa-jwt' });
  });

  it('keeps separate entries per identity, per registry and per subject', async () => {
    const clock = manualClock();
    const fake = fakeExchanger(clock);
    const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
    const subjectToken = async () => 'sa-jwt';
    await Promise.all([
      cache.get({ ...key, subjectToken }),
      cache.get({ ...key, identity: 'abc/other', subjectToken }),
      cache.get({ ...key, registry: 'registry.example:5000', subjectToken }),
      cache.get({ ...key, subject: 'system:serviceaccount:team:app', subjectToken }),
    ]);
    assert.equal(fake.requests.length, 4);
    assert.equal(cache.size, 4);
  });

  it('returns the cached token until its refresh instant, then exchanges again', async () => {
    const clock = manualClock();
    const fake = fakeExchanger(clock);
    const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
    const subjectToken = async () => 'sa-jwt';
    assert.equal(cache.peek(key.identity, key.registry, key.subject), undefined, 'peek before any exchange');
    const first = await cache.get({ ...key, subjectToken });
    const due = refreshAt(first.token, first, DEFAULT_REFRESH_SCHEDULE);

    clock.set(new Date(due.getTime() - 1));
    assert.equal((await cache.get({ ...key, subjectToken })).token, first.token, 'get just before the refresh instant');
    assert.equal(cache.peek(key.identity, key.registry, key.subject)?.token, first.token, 'peek just before');
    assert.equal(fake.requests.length, 1);

    clock.set(due);
    assert.equal(cache.peek(key.identity, key.registry, key.subject), undefined, 'peek at the refresh instant');
    const second = await cache.get({ ...key, subjectToken });
    assert.notEqual(second.token, first.token, 'expected a new token at the refresh instant');
    assert.equal(fake.requests.length, 2);
  });

  it('counts the life of a token without iat/nbf from its arrival, so a short one is not due at once', async () => {
    const clock = manualClock();
    const noIat: Exchanger = {
      name: 'fake',
      audience: 'fake.test',
      async exchange() {
        const exp = Math.floor(clock.now().getTime() / 1000) + 120;
        const token = unsignedJwt({ exp, jti: String(Math.random()) });
        return { token, ...readJwtTimes(token) };
      },
    };
    const cache = createTokenCache({ exchanger: noIat, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
    const subjectToken = async () => 'sa-jwt';
    const first = await cache.get({ ...key, subjectToken });
    // By its own claims it is due already (exp - 5 min is in the past)...
    assert.ok(refreshAt(first.token, first, DEFAULT_REFRESH_SCHEDULE).getTime() <= clock.now().getTime());
    // ...but the cache keeps it like a 2-minute token issued on arrival (due 54-60 s later).
    clock.advance(30_000);
    assert.equal((await cache.get({ ...key, subjectToken })).token, first.token);
    clock.advance(35_000);
    assert.notEqual((await cache.get({ ...key, subjectToken })).token, first.token, 'refreshed before it expires');
  });

  it('does not cache failures: every waiter sees the error, the next get exchanges again', async () => {
    const clock = manualClock();
    const fake = fakeExchanger(clock);
    const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
    const subjectToken = async () => 'sa-jwt';
    fake.fail(new RegcredError('StsServerError', 'STS answered 500'));
    const results = await Promise.allSettled([cache.get({ ...key, subjectToken }), cache.get({ ...key, subjectToken })]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.equal(fake.requests.length, 1, 'the two callers should have shared one failing exchange');
    fake.fail(undefined);
    await cache.get({ ...key, subjectToken });
    assert.equal(fake.requests.length, 2, 'the failure was cached');
  });

  it('does not cache a failure to get the subject token, and does not exchange without one', async () => {
    const clock = manualClock();
    const fake = fakeExchanger(clock);
    const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
    await assert.rejects(
      cache.get({ ...key, subjectToken: async () => Promise.reject(new RegcredError('TokenRequestFailed', 'TokenRequest failed')) }),
      (e: unknown) => e instanceof RegcredError && e.code === 'TokenRequestFailed',
    );
    assert.equal(fake.requests.length, 0);
    await cache.get({ ...key, subjectToken: async () => 'sa-jwt' });
    assert.equal(fake.requests.length, 1);
  });

  it('lets one caller stop waiting without cancelling the shared exchange for the others', async () => {
    const clock = manualClock();
    const fake = fakeExchanger(clock);
    const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
    const subjectToken = async () => 'sa-jwt';
    fake.hold();
    const controller = new AbortController();
    const impatient = cache.get({ ...key, subjectToken, signal: controller.signal });
    const patient = cache.get({ ...key, subjectToken });
    controller.abort();
    await assert.rejects(impatient, (e: unknown) => (e as Error).name === 'AbortError');
    fake.release();
    const token = await patient;
    assert.ok(token.token, 'the patient caller got no token');
    assert.equal(fake.requests.length, 1);
  });

  it('stays within maxEntries, evicting expired entries first', async () => {
    const clock = manualClock();
    const fake = fakeExchanger(clock, 60);
    const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE, maxEntries: 3 });
    const subjectToken = async () => 'sa-jwt';
    await cache.get({ ...key, identity: 'old/1', subjectToken });
    await cache.get({ ...key, identity: 'old/2', subjectToken });
    clock.advance(120_000); // old/1 and old/2 have expired
    await cache.get({ ...key, identity: 'new/1', subjectToken });
    await cache.get({ ...key, identity: 'new/2', subjectToken });
    assert.equal(cache.size, 2, 'expired entries should have been evicted');
    for (let i = 3; i < 10; i += 1) await cache.get({ ...key, identity: `new/${i}`, subjectToken });
    assert.equal(cache.size, 3, `expected at most 3 entries, got ${cache.size}`);
    assert.ok(cache.peek('new/9', key.registry, key.subject), 'the newest entry was evicted');
  });
});

describe('token cache and decide agree (no hot loop)', () => {
  it('whenever decide asks to refresh a Secret holding the cached token, the cache exchanges a new one', async () => {
    for (const lifetime of [20, 120, 600, 3600]) {
      const clock = manualClock();
      const fake = fakeExchanger(clock, lifetime);
      const cache = createTokenCache({ exchanger: fake.exchanger, clock, refresh: DEFAULT_REFRESH_SCHEDULE });
      const settings = { defaultRegistry: 'cgr.dev', registries: [], refresh: DEFAULT_REFRESH_SCHEDULE };
      const subjectToken = async () => 'sa-jwt';
      let held: RegistryToken = await cache.get({ ...key, subjectToken });
      for (let step = 0; step < 200; step += 1) {
        clock.advance((lifetime * 1000) / 37);
        const view = {
          namespace: 'ns',
          name: 'pull-secret',
          type: 'kubernetes.io/dockerconfigjson',
          annotations: { [ANNOTATIONS.identity]: key.identity },
          dockerConfigJson: serializeDockerConfig(withRegistryToken({}, 'cgr.dev', held.token)),
        };
        const action = decide(view, clock.now(), cache.peek(key.identity, key.registry, key.subject), settings);
        if (action.kind === 'wait') continue;
        assert.equal(action.kind, 'refresh', `lifetime ${lifetime} s, step ${step}: unexpected ${action.kind}`);
        const next = await cache.get({ ...key, subjectToken });
        assert.notEqual(next.token, held.token, `lifetime ${lifetime} s, step ${step}: the cache handed back the due token`);
        held = next;
      }
    }
  });
});
