// The renewing-credential primitive (pure, manual clock): renew at the instant the fetch named,
// single-flight, the old value through a failed renewal only while it has life left, bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRenewingCache, type Renewed } from '../../src/token/renewing-cache.ts';
import { createManualClock, type ManualClock } from '../support/manual-clock.ts';

/** A source whose values live `lifeMs` from the clock's now and are due after `renewMs`. */
function source(clock: ManualClock, renewMs = 800, lifeMs = 1000) {
  let calls = 0;
  let fail = false;
  let gate: Promise<void> | undefined;
  return {
    get calls() {
      return calls;
    },
    setFail: (value: boolean) => void (fail = value),
    hold: (promise: Promise<void> | undefined) => void (gate = promise),
    fetch: async (): Promise<Renewed<string>> => {
      calls++;
      const n = calls;
      if (gate) await gate;
      if (fail) throw new Error(`fetch ${n} failed`);
      const now = clock.now().getTime();
      return { value: `v${n}`, renewAt: new Date(now + renewMs), expiresAt: new Date(now + lifeMs) };
    },
  };
}

describe('renewing cache', () => {
  it('reuses a value until its renewal instant, then fetches again', async () => {
    const clock = createManualClock();
    const s = source(clock);
    const cache = createRenewingCache<string>({ clock });
    assert.equal(cache.peek('k'), undefined);
    assert.equal(await cache.get('k', s.fetch), 'v1');
    clock.advance(799);
    assert.equal(await cache.get('k', s.fetch), 'v1');
    assert.equal(cache.peek('k'), 'v1');
    clock.advance(1);
    assert.equal(cache.peek('k'), undefined, 'due at its renewal instant');
    assert.equal(await cache.get('k', s.fetch), 'v2');
    assert.equal(s.calls, 2);
  });

  it('shares one fetch among concurrent callers of a key, and keeps keys apart', async () => {
    const clock = createManualClock();
    const s = source(clock);
    let release!: () => void;
    s.hold(new Promise((resolve) => (release = resolve)));
    const cache = createRenewingCache<string>({ clock });
    const all = Promise.all([cache.get('a', s.fetch), cache.get('a', s.fetch), cache.get('a', s.fetch)]);
    release();
    assert.deepEqual(await all, ['v1', 'v1', 'v1']);
    assert.equal(s.calls, 1);
    assert.equal(await cache.get('b', s.fetch), 'v2', 'another key has its own value');
  });

  it('with keepOnErrorMarginMs, hands out the old value through a failed renewal while it has more than the margin left', async () => {
    const clock = createManualClock();
    const s = source(clock);
    const cache = createRenewingCache<string>({ clock, keepOnErrorMarginMs: 100 });
    await cache.get('k', s.fetch);
    s.setFail(true);
    clock.advance(850);
    assert.equal(await cache.get('k', s.fetch), 'v1', 'old value kept: 150 ms left, margin 100');
    clock.advance(50);
    await assert.rejects(cache.get('k', s.fetch), /fetch 3 failed/, 'no longer kept at the margin');
    assert.equal(s.calls, 3, 'a failure is not cached: every get after it fetches again');
  });

  it('without keepOnErrorMarginMs, a failed renewal reaches the caller', async () => {
    const clock = createManualClock();
    const s = source(clock);
    const cache = createRenewingCache<string>({ clock });
    await cache.get('k', s.fetch);
    s.setFail(true);
    clock.advance(850);
    await assert.rejects(cache.get('k', s.fetch), /fetch 2 failed/);
  });

  it('forget() drops the value, so the next get fetches (and a failure then has nothing to fall back on)', async () => {
    const clock = createManualClock();
    const s = source(clock);
    const cache = createRenewingCache<string>({ clock, keepOnErrorMarginMs: 0 });
    await cache.get('k', s.fetch);
    cache.forget('k');
    assert.equal(cache.peek('k'), undefined);
    s.setFail(true);
    await assert.rejects(cache.get('k', s.fetch), /fetch 2 failed/);
  });

  it('tells onStored about each stored value, and stays within maxEntries, evicting expired values first', async () => {
    const clock = createManualClock();
    const stored: string[] = [];
    const short = source(clock, 50, 100);
    const long = source(clock, 8_000, 10_000);
    const cache = createRenewingCache<string>({ clock, maxEntries: 2, onStored: (key, value) => void stored.push(`${key}=${value}`) });
    await cache.get('old-long', long.fetch);
    await cache.get('short', short.fetch);
    clock.advance(200); // `short` has expired; `old-long` is the least recently stored
    await cache.get('new', long.fetch);
    assert.equal(cache.size, 2);
    assert.equal(cache.peek('old-long'), 'v1', 'the expired value went first, not the oldest');
    assert.equal(cache.peek('short'), undefined);
    assert.deepEqual(stored, ['old-long=v1', 'short=v1', 'new=v2']);
  });
});
