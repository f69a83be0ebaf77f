// The system clock's timers (what the work queue runs on in production): they fire, cancel() stops them,
// and a pending one does not keep the process alive. The manual clock of the tests keeps the same contract.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { systemClock } from '../../src/clock.ts';
import { createManualClock } from '../support/manual-clock.ts';

describe('systemClock.setTimer', () => {
  it('calls back once the delay has passed, and not after cancel()', async () => {
    const fired: string[] = [];
    const cancelled = systemClock.setTimer(() => fired.push('cancelled'), 5);
    cancelled.cancel();
    await new Promise<void>((resolve) => systemClock.setTimer(() => resolve(void fired.push('kept')), 10));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(fired, ['kept']);
  });
});

describe('manual clock', () => {
  it('fires due timers in due order, each at its own instant, and none before', () => {
    const clock = createManualClock(new Date(0));
    const seen: Array<[string, number]> = [];
    clock.setTimer(() => seen.push(['b', clock.now().getTime()]), 200);
    clock.setTimer(() => seen.push(['a', clock.now().getTime()]), 100);
    const never = clock.setTimer(() => seen.push(['never', clock.now().getTime()]), 150);
    never.cancel();
    clock.advance(99);
    assert.deepEqual(seen, []);
    clock.advance(201);
    assert.deepEqual(seen, [['a', 100], ['b', 200]]);
    assert.equal(clock.now().getTime(), 300);
    assert.equal(clock.pending(), 0);
  });
});
