// A clock the test moves by hand: now() stays put until advance(), which fires the timers that fall due
// in between, in due order, each seeing now() at its own due instant.
import type { Timer, TimerClock } from '../../src/clock.ts';

export interface ManualClock extends TimerClock {
  advance(ms: number): void;
  /** Timers set and neither fired nor cancelled. */
  pending(): number;
}

export function createManualClock(start = new Date('2026-11-23T09:00:00Z')): ManualClock {
  let nowMs = start.getTime();
  let nextId = 0;
  const timers = new Map<number, { dueMs: number; callback: () => void }>();
  return {
    now: () => new Date(nowMs),
    setTimer(callback, delayMs): Timer {
      const id = nextId++;
      timers.set(id, { dueMs: nowMs + Math.max(0, delayMs), callback });
      return { cancel: () => void timers.delete(id) };
    },
    advance(ms) {
      const targetMs = nowMs + ms;
      for (;;) {
        let next: [number, { dueMs: number; callback: () => void }] | undefined;
        for (const entry of timers) if (entry[1].dueMs <= targetMs && (!next || entry[1].dueMs < next[1].dueMs)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        nowMs = Math.max(nowMs, next[1].dueMs);
        next[1].callback();
      }
      nowMs = targetMs;
    },
    pending: () => timers.size,
  };
}
