// The keys waiting for a slot of the work queue: higher priority first, arrival order within one, a
// key waiting once, a raised key at the end of its new lane, stale entries never taken.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReadyKeys, type ReadyKeys } from '../../src/controller/ready-keys.ts';
import { prng } from '../support/prng.ts';

function drain(keys: ReadyKeys): string[] {
  const out: string[] = [];
  for (let key = keys.take(); key !== undefined; key = keys.take()) out.push(key);
  return out;
}

/** The same contract as a plain list of [key, priority], searched and spliced: slow, obviously right. */
function referenceKeys() {
  const list: Array<[string, number]> = [];
  return {
    push(key: string, priority: number) {
      const at = list.findIndex(([k]) => k === key);
      if (at !== -1) {
        if (list[at]![1] >= priority) return;
        list.splice(at, 1);
      }
      list.push([key, priority]);
    },
    take(): string | undefined {
      let best = -1;
      for (let i = 0; i < list.length; i++) if (best === -1 || list[i]![1] > list[best]![1]) best = i;
      return best === -1 ? undefined : list.splice(best, 1)[0]![0];
    },
    get size() {
      return list.length;
    },
  };
}

describe('ready keys', () => {
  it('takes higher priorities first and keeps arrival order within one', () => {
    const keys = createReadyKeys(2);
    keys.push('a', 0);
    keys.push('b', 1);
    keys.push('c', 0);
    keys.push('d', 1);
    assert.equal(keys.size, 4);
    assert.deepEqual(drain(keys), ['b', 'd', 'a', 'c']);
    assert.equal(keys.size, 0);
  });

  it('holds a key once: pushing it again at the same or a lower priority changes nothing', () => {
    const keys = createReadyKeys(2);
    keys.push('a', 1);
    keys.push('b', 1);
    keys.push('a', 1);
    keys.push('a', 0);
    assert.equal(keys.size, 2);
    assert.equal(keys.priorityOf('a'), 1);
    assert.deepEqual(drain(keys), ['a', 'b']);
  });

  it('moves a raised key to the end of its new lane and never takes its old entry', () => {
    const keys = createReadyKeys(2);
    keys.push('a', 0);
    keys.push('b', 0);
    keys.push('c', 1);
    keys.push('a', 1);
    assert.equal(keys.priorityOf('a'), 1);
    assert.deepEqual(drain(keys), ['c', 'a', 'b']);
  });

  it('skips a stale entry even when its key has run and waits again', () => {
    const keys = createReadyKeys(2);
    keys.push('a', 0);
    keys.push('b', 0);
    keys.push('a', 1); // a's first entry, ahead of b in lane 0, is now stale
    assert.equal(keys.take(), 'a');
    keys.push('a', 0); // a waits again, behind b
    assert.equal(keys.priorityOf('a'), 0);
    assert.deepEqual(drain(keys), ['b', 'a']);
  });

  it('clears every waiting key', () => {
    const keys = createReadyKeys(2);
    for (let i = 0; i < 10; i++) keys.push(`k${i}`, i % 2);
    keys.clear();
    assert.equal(keys.size, 0);
    assert.equal(keys.priorityOf('k1'), undefined);
    assert.equal(keys.take(), undefined);
    keys.push('k1', 0);
    assert.deepEqual(drain(keys), ['k1']);
  });

  it('refuses a priority outside its lanes', () => {
    const keys = createReadyKeys(2);
    assert.throws(() => keys.push('a', 2), RangeError);
    assert.throws(() => keys.push('a', -1), RangeError);
    assert.throws(() => keys.push('a', 0.5), RangeError);
    assert.throws(() => createReadyKeys(0), RangeError);
  });

  it('agrees with a plain list over random pushes, raises and takes (past the lanes compaction)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = prng(seed);
      const keys = createReadyKeys(3);
      const reference = referenceKeys();
      // Few distinct keys, so that most pushes meet a key that waits, ran, or was raised before.
      for (let step = 0; step < 20_000; step++) {
        if (random() < 0.55) {
          const key = `k${Math.floor(random() * 3_000)}`;
          const priority = Math.floor(random() * 3);
          keys.push(key, priority);
          reference.push(key, priority);
        } else {
          assert.equal(keys.take(), reference.take(), `seed ${seed}, step ${step}`);
        }
        assert.equal(keys.size, reference.size, `seed ${seed}, step ${step}`);
      }
      assert.deepEqual(drain(keys), drain(reference as unknown as ReadyKeys), `seed ${seed}`);
    }
  });
});
