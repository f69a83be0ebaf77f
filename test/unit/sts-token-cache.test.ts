// The cache of verified exchange tokens: bounded, least recently used first out, entries gone at
// expiry, keyed by a hash so the cache never holds token text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VerifiedTokenCache } from '../../src/sts/verified-token-cache.ts';

test('entries expire at their expiry time', () => {
  const cache = new VerifiedTokenCache<string>();
  cache.set('token-a', 'a', 1_000);
  assert.equal(cache.get('token-a', 999), 'a');
  assert.equal(cache.get('token-a', 1_000), undefined);
  assert.equal(cache.size, 0, 'an expired entry is dropped when found');
});

test('bounded: the least recently used entry goes first', () => {
  const cache = new VerifiedTokenCache<number>({ maxEntries: 3 });
  for (let i = 0; i < 3; i++) cache.set(`t${i}`, i, 10_000);
  assert.equal(cache.get('t0', 0), 0, 'touch t0 so that t1 is the oldest');
  cache.set('t3', 3, 10_000);
  assert.equal(cache.size, 3);
  assert.equal(cache.get('t1', 0), undefined);
  assert.equal(cache.get('t0', 0), 0);
  assert.equal(cache.get('t3', 0), 3);
  for (let i = 0; i < 1_000; i++) cache.set(`flood${i}`, i, 10_000);
  assert.equal(cache.size, 3);
});

test('keys are SHA-256 hashes, never the token', () => {
  const token = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
  const key = VerifiedTokenCache.keyOf(token);
  assert.equal(key.length, 43);
  assert.ok(!key.includes(token.slice(0, 10)));
  assert.notEqual(VerifiedTokenCache.keyOf(token + 'x'), key);
});
