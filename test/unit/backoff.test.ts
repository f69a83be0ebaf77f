import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs } from '../../src/backoff.ts';
import { capDelay, retryDelayMs, MIN_CAPPED_DELAY_MS } from '../../src/controller/retry-delay.ts';

const schedule = { baseMs: 1_000, maxMs: 60_000 };
const fixed = (value: number) => () => value;
const NOW = new Date('2026-11-23T09:00:00Z');
const inMs = (ms: number) => new Date(NOW.getTime() + ms);

describe('backoffDelayMs', () => {
  const cases: Array<[number, number, number]> = [
    // attempt, random, expected
    [1, 0.5, 1_000],
    [2, 0, 1_000],
    [2, 0.999_999, 2_000],
    [3, 0.5, 2_500],
    [4, 1 - 1e-9, 8_000],
    [7, 0.5, 30_500],
    [8, 0.999_999, 60_000],
    [60, 0.999_999, 60_000],
    [10_000, 0.5, 30_500],
    [0, 0.5, 1_000],
    [-3, 0.5, 1_000],
  ];
  for (const [attempt, random, expected] of cases) {
    it(`waits ${expected} ms on attempt ${attempt} when random() = ${random}`, () => {
      assert.equal(backoffDelayMs(attempt, schedule, fixed(random)), expected);
    });
  }

  it('stays within [baseMs, min(maxMs, baseMs·2^(attempt-1))] for any random value', () => {
    for (let attempt = 1; attempt < 20; attempt += 1) {
      const ceiling = Math.min(schedule.maxMs, schedule.baseMs * 2 ** (attempt - 1));
      for (const r of [0, 0.1, 0.5, 0.9, 0.999_999]) {
        const delay = backoffDelayMs(attempt, schedule, fixed(r));
        assert.ok(delay >= schedule.baseMs && delay <= ceiling, `attempt ${attempt}, random ${r}: ${delay} ms`);
      }
    }
  });
});

describe('capDelay', () => {
  const cases: Array<[string, number, Date | undefined, number]> = [
    ['no old token: the backoff as is', 60_000, undefined, 60_000],
    ['the old token outlives the backoff: the backoff', 60_000, inMs(600_000), 60_000],
    ['the old token stops working first: retry when it does', 60_000, inMs(10_000), 10_000],
    ['a few ms left: wait the floor, not a hot loop', 60_000, inMs(20), MIN_CAPPED_DELAY_MS],
    ['a backoff shorter than the floor stays as is', 500, inMs(20), 500],
    ['the old token is already gone: the backoff as is', 60_000, inMs(-5_000), 60_000],
  ];
  for (const [name, delay, usefulUntil, expected] of cases) {
    it(name, () => {
      assert.equal(capDelay(delay, NOW, usefulUntil), expected);
    });
  }
});

describe('retryDelayMs', () => {
  it('honours Retry-After when it is longer than the backoff', () => {
    assert.equal(retryDelayMs({ attempt: 1, schedule, random: fixed(0), now: NOW, retryAfterMs: 7_000 }), 7_000);
  });

  it('still retries before the old token stops working, even against Retry-After', () => {
    assert.equal(
      retryDelayMs({ attempt: 9, schedule, random: fixed(0.9), now: NOW, retryAfterMs: 120_000, usefulUntil: inMs(30_000) }),
      30_000,
    );
  });
});
