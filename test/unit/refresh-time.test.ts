import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_REFRESH_SCHEDULE,
  refreshAt,
  tokenJitter,
  validateRefreshSchedule,
  type RefreshSchedule,
} from '../../src/token/refresh-time.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { tokenFor, unsignedJwt } from '../support/unsigned-jwt.ts';

const T0 = new Date('2026-11-23T09:00:00Z');
const NO_JITTER: RefreshSchedule = { ...DEFAULT_REFRESH_SCHEDULE, jitterFraction: 0 };
const seconds = (date: Date) => (date.getTime() - T0.getTime()) / 1000;

function dueSeconds(lifetimeSeconds: number, policy: RefreshSchedule = NO_JITTER): number {
  const token = tokenFor(T0, lifetimeSeconds);
  return seconds(refreshAt(token, readJwtTimes(token), policy));
}

describe('refreshAt without jitter', () => {
  const cases: Array<[string, number, number]> = [
    ['a 1 h token refreshes when 1/3 remains (after 40 min)', 3600, 2400],
    ['a 12 h token refreshes after 8 h', 43_200, 28_800],
    ['a 10 min token refreshes 5 min (the margin) before exp', 600, 300],
    ['a 12 min token keeps the 5 min margin over 1/3 (4 min)', 720, 420],
    ['a 2 min token (shorter than the margin) refreshes at half its life, not at once', 120, 60],
    ['a 20 s token refreshes at half its life', 20, 10],
  ];
  for (const [name, lifetime, expected] of cases) {
    it(name, () => {
      assert.equal(dueSeconds(lifetime), expected);
    });
  }

  it('uses nbf as the start of life when iat is absent', () => {
    const nbf = T0.getTime() / 1000;
    const token = unsignedJwt({ nbf, exp: nbf + 3600 });
    assert.equal(seconds(refreshAt(token, readJwtTimes(token), NO_JITTER)), 2400);
  });

  it('refreshes minMarginMs before exp when the lifetime is unknown (no iat, no nbf)', () => {
    const exp = T0.getTime() / 1000 + 3600;
    const token = unsignedJwt({ exp });
    assert.equal(seconds(refreshAt(token, readJwtTimes(token), NO_JITTER)), 3300);
  });
});

describe('refreshAt jitter', () => {
  it('is deterministic: the same token always gets the same instant', () => {
    const token = tokenFor(T0, 3600);
    const times = readJwtTimes(token);
    const first = refreshAt(token, times, DEFAULT_REFRESH_SCHEDULE).getTime();
    for (let i = 0; i < 5; i += 1) assert.equal(refreshAt(token, { ...times }, DEFAULT_REFRESH_SCHEDULE).getTime(), first);
  });

  it('only moves the instant earlier, by at most jitterFraction of the lead time', () => {
    for (let i = 0; i < 200; i += 1) {
      const due = dueSeconds(3600, DEFAULT_REFRESH_SCHEDULE);
      assert.ok(due <= 2400, `due after ${due} s: jitter moved it later than 2400 s`);
      assert.ok(due >= 2400 - 0.1 * 1200, `due after ${due} s: jitter moved it more than 120 s earlier`);
    }
  });

  it('spreads different tokens over the jitter window', () => {
    const dues = new Set<number>();
    for (let i = 0; i < 50; i += 1) dues.add(Math.round(dueSeconds(3600, DEFAULT_REFRESH_SCHEDULE)));
    assert.ok(dues.size > 25, `expected most of 50 tokens to get distinct instants, got ${dues.size}`);
  });

  it('derives a value in [0, 1) from the token', () => {
    for (const token of ['', 'a', tokenFor(T0, 60)]) {
      const jitter = tokenJitter(token);
      assert.ok(jitter >= 0 && jitter < 1, `jitter ${jitter} out of [0, 1)`);
    }
  });
});

describe('refreshAt never makes a token due at birth (the hot-loop guard)', () => {
  const policies: RefreshSchedule[] = [
    DEFAULT_REFRESH_SCHEDULE,
    { remainingFraction: 0.95, minMarginMs: 3_600_000, jitterFraction: 0.9 },
    { remainingFraction: 0.01, minMarginMs: 0, jitterFraction: 0 },
  ];
  for (const policy of policies) {
    it(`keeps iat < refresh instant < exp for lifetimes 1 s..1 day with ${JSON.stringify(policy)}`, () => {
      for (const lifetime of [1, 2, 10, 59, 60, 299, 300, 301, 600, 3600, 86_400]) {
        const token = tokenFor(T0, lifetime);
        const due = refreshAt(token, readJwtTimes(token), policy).getTime();
        assert.ok(due > T0.getTime(), `lifetime ${lifetime} s: due at issue time or before`);
        assert.ok(due < T0.getTime() + lifetime * 1000, `lifetime ${lifetime} s: due at or after exp`);
      }
    });
  }
});

describe('validateRefreshSchedule', () => {
  const bad: Array<[string, Partial<RefreshSchedule>]> = [
    ['remainingFraction 0', { remainingFraction: 0 }],
    ['remainingFraction 1', { remainingFraction: 1 }],
    ['remainingFraction NaN', { remainingFraction: Number.NaN }],
    ['a negative margin', { minMarginMs: -1 }],
    ['jitterFraction 1', { jitterFraction: 1 }],
    ['a negative jitterFraction', { jitterFraction: -0.1 }],
  ];
  for (const [name, change] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(() => validateRefreshSchedule({ ...DEFAULT_REFRESH_SCHEDULE, ...change }));
    });
  }

  it('accepts the default policy', () => {
    assert.equal(validateRefreshSchedule(DEFAULT_REFRESH_SCHEDULE), DEFAULT_REFRESH_SCHEDULE);
  });
});
