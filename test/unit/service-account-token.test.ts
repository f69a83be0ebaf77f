// The controller's own ServiceAccount token source: reused until 80% of its life, one TokenRequest per
// audience at a time, the old token kept through a failed renewal while it is still good.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegcredError } from '../../src/errors.ts';
import { createServiceAccountTokenSource } from '../../src/token/service-account-token.ts';

function manualClock(start = new Date('2026-11-23T09:00:00Z')) {
  let nowMs = start.getTime();
  return { now: () => new Date(nowMs), advance: (ms: number) => void (nowMs += ms) };
}

function requester(clock: { now(): Date }) {
  const calls: Array<{ audience: string; expirationSeconds: number }> = [];
  let fail = false;
  let gate: Promise<void> | undefined;
  return {
    calls,
    setFail: (value: boolean) => void (fail = value),
    hold: (promise: Promise<void> | undefined) => void (gate = promise),
    request: async (request: { audience: string; expirationSeconds: number }) => {
      calls.push(request);
      if (gate) await gate;
      if (fail) throw new RegcredError('TokenRequestFailed', 'TokenRequest failed');
      return { token: `token-${calls.length}`, expiresAt: new Date(clock.now().getTime() + request.expirationSeconds * 1000) };
    },
  };
}

describe('ServiceAccount token source', () => {
  it('reuses a token until 80% of its lifetime is gone, per audience', async () => {
    const clock = manualClock();
    const r = requester(clock);
    const source = createServiceAccountTokenSource({ request: r.request, clock, expirationSeconds: 1000 });
    assert.equal(await source.get('a'), 'token-1');
    clock.advance(799_000);
    assert.equal(await source.get('a'), 'token-1', 'still within 80%');
    assert.equal(await source.get('b'), 'token-2', 'another audience gets its own token');
    clock.advance(2_000);
    assert.equal(await source.get('a'), 'token-3', 'renewed after 80%');
    assert.deepEqual(r.calls.map((c) => c.expirationSeconds), [1000, 1000, 1000]);
  });

  it('makes one TokenRequest for concurrent callers', async () => {
    const clock = manualClock();
    const r = requester(clock);
    let release!: () => void;
    r.hold(new Promise((resolve) => (release = resolve)));
    const source = createServiceAccountTokenSource({ request: r.request, clock });
    const all = Promise.all([source.get('a'), source.get('a'), source.get('a')]);
    release();
    assert.deepEqual(await all, ['token-1', 'token-1', 'token-1']);
    assert.equal(r.calls.length, 1);
  });

  it('keeps handing out the old token when a renewal fails while it is still good, then fails', async () => {
    const clock = manualClock();
    const r = requester(clock);
    const results: string[] = [];
    const source = createServiceAccountTokenSource({ request: r.request, clock, expirationSeconds: 1000, onRequest: (x) => void results.push(x) });
    await source.get('a');
    clock.advance(850_000);
    r.setFail(true);
    assert.equal(await source.get('a'), 'token-1', 'old token still has 150 s');
    clock.advance(100_000);
    await assert.rejects(source.get('a'), (err: unknown) => err instanceof RegcredError && err.code === 'TokenRequestFailed');
    assert.deepEqual(results, ['success', 'error', 'error']);
  });

  it('asks anew after invalidate()', async () => {
    const clock = manualClock();
    const r = requester(clock);
    const source = createServiceAccountTokenSource({ request: r.request, clock });
    await source.get('a');
    source.invalidate('a');
    assert.equal(await source.get('a'), 'token-2');
  });

  it('refuses lifetimes TokenRequest would refuse', () => {
    const clock = manualClock();
    assert.throws(() => createServiceAccountTokenSource({ request: requester(clock).request, clock, expirationSeconds: 599 }), RegcredError);
  });
});
