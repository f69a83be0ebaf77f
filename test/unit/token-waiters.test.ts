import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenWaiters } from '../../src/controller/token-waiters.ts';
import { nextPageLimit } from '../../src/kube/list-watch.ts';
import { EXPIRY_SAFETY_MS, lastUsefulInstant } from '../../src/controller/retry-delay.ts';

describe('token waiters', () => {
  it('releases every Secret waiting for a token key, once', () => {
    const waiters = createTokenWaiters();
    waiters.wait('a/pull-secret', 'k1');
    waiters.wait('b/pull-secret', 'k1');
    waiters.wait('c/pull-secret', 'k2');
    assert.deepEqual(waiters.release('k1').sort(), ['a/pull-secret', 'b/pull-secret']);
    assert.deepEqual(waiters.release('k1'), []);
    assert.equal(waiters.size, 1);
  });

  it('a Secret waits for one key at a time, and forgetting it removes it', () => {
    const waiters = createTokenWaiters();
    waiters.wait('a/pull-secret', 'k1');
    waiters.wait('a/pull-secret', 'k2');
    assert.deepEqual(waiters.release('k1'), []);
    waiters.forget('a/pull-secret');
    assert.deepEqual(waiters.release('k2'), []);
    assert.equal(waiters.size, 0);
  });
});

describe('list page size', () => {
  it('keeps the full page for small objects and shrinks it for large ones', () => {
    const max = 16 * 1024 * 1024;
    assert.equal(nextPageLimit(500 * 8 * 1024, 500, 500, max), 500);
    assert.equal(nextPageLimit(4 * 1_400_000, 4, 500, max), 2);
    assert.equal(nextPageLimit(10 * 8_000_000, 10, 500, max), 1);
    assert.equal(nextPageLimit(0, 0, 500, max), 500);
  });
});

describe('last useful instant', () => {
  it('is a few seconds before exp', () => {
    const exp = new Date('2026-12-01T12:00:00Z');
    assert.equal(exp.getTime() - lastUsefulInstant(exp).getTime(), EXPIRY_SAFETY_MS);
    assert.ok(EXPIRY_SAFETY_MS >= 1000 && EXPIRY_SAFETY_MS <= 10_000);
  });
});
