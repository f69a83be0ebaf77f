// One clock timer for many keys: each key fires once, at its latest instant, in due order; replaced and
// deleted instants never fire; the clock never holds more than one timer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDueKeys } from '../../src/controller/due-keys.ts';
import { createManualClock } from '../support/manual-clock.ts';

function bed() {
  const clock = createManualClock();
  const fired: Array<[string, number]> = [];
  const t0 = clock.now().getTime();
  const keys = createDueKeys(clock, (key) => fired.push([key, clock.now().getTime() - t0]));
  return { clock, fired, keys, t0 };
}

describe('due keys', () => {
  it('fires each key at its instant, in due order, with one clock timer', () => {
    const { clock, fired, keys, t0 } = bed();
    keys.set('c', t0 + 300);
    keys.set('a', t0 + 100);
    keys.set('b', t0 + 200);
    assert.equal(clock.pending(), 1);
    clock.advance(1000);
    assert.deepEqual(fired, [['a', 100], ['b', 200], ['c', 300]]);
    assert.equal(keys.size, 0);
    assert.equal(clock.pending(), 0);
  });

  it('a replaced instant fires only at the new one, earlier or later', () => {
    const { clock, fired, keys, t0 } = bed();
    keys.set('a', t0 + 100);
    keys.set('a', t0 + 500);
    keys.set('b', t0 + 400);
    keys.set('b', t0 + 50);
    clock.advance(1000);
    assert.deepEqual(fired, [['b', 50], ['a', 500]]);
  });

  it('a deleted key never fires, and get() tells each key its instant', () => {
    const { clock, fired, keys, t0 } = bed();
    keys.set('a', t0 + 100);
    keys.set('b', t0 + 200);
    assert.equal(keys.get('b'), t0 + 200);
    assert.equal(keys.delete('a'), true);
    assert.equal(keys.delete('a'), false);
    assert.equal(keys.get('a'), undefined);
    clock.advance(1000);
    assert.deepEqual(fired, [['b', 200]]);
  });

  it('keys due at the same instant all fire; clear() stops everything', () => {
    const { clock, fired, keys, t0 } = bed();
    for (const key of ['x', 'y', 'z']) keys.set(key, t0 + 10);
    clock.advance(10);
    assert.deepEqual(fired.map(([key]) => key).sort(), ['x', 'y', 'z']);
    keys.set('later', t0 + 100);
    keys.clear();
    assert.equal(clock.pending(), 0);
    clock.advance(1000);
    assert.equal(fired.length, 3);
  });

  it('many replacements: the heap is rebuilt and still fires every live key exactly once', () => {
    const { clock, fired, keys, t0 } = bed();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) keys.set(`k${i}`, t0 + 1000 + ((i * 7919 + round * 104729) % 5000));
    }
    for (let i = 0; i < 500; i += 2) keys.delete(`k${i}`);
    clock.advance(10_000);
    const names = fired.map(([key]) => key);
    assert.equal(names.length, 250);
    assert.equal(new Set(names).size, 250);
    const times = fired.map(([, at]) => at);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    for (const [key, at] of fired) assert.equal(at, 1000 + ((Number(key.slice(1)) * 7919 + 19 * 104729) % 5000), key);
  });
});
