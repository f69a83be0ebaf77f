// Time and randomness are dependencies, created in main and passed down, so tests can fix both.

export interface Clock {
  now(): Date;
}

/** A pending timer; cancel() after it ran does nothing. */
export interface Timer {
  cancel(): void;
}

/** A clock that also wakes you up: what schedulers (the work queue) take, so tests can drive them. */
export interface TimerClock extends Clock {
  /** Calls `callback` once, `delayMs` from now. A pending timer alone never keeps the process alive. */
  setTimer(callback: () => void, delayMs: number): Timer;
}

/** setTimeout's ceiling (~24.8 days); longer waits re-arm. */
const MAX_TIMEOUT_MS = 2_147_483_647;

function setSystemTimer(callback: () => void, delayMs: number): Timer {
  let timeout: NodeJS.Timeout;
  const dueMs = Date.now() + delayMs;
  const arm = (ms: number) => {
    timeout = setTimeout(() => {
      const leftMs = dueMs - Date.now();
      if (ms === MAX_TIMEOUT_MS && leftMs > 0) arm(Math.min(leftMs, MAX_TIMEOUT_MS));
      else callback();
    }, ms);
    timeout.unref();
  };
  arm(Math.min(Math.max(delayMs, 0), MAX_TIMEOUT_MS));
  return { cancel: () => clearTimeout(timeout) };
}

export const systemClock: TimerClock = { now: () => new Date(), setTimer: setSystemTimer };

/** A number in [0, 1), like Math.random. */
export type Random = () => number;

export const systemRandom: Random = Math.random;
