// The keyed work queue: keys (`namespace/name`), not events. A key waits at most once (de-duplicated),
// has at most one timer (adding it again replaces the timer, like cert-manager's scheduler), is never
// processed twice at once (re-added while running → run once more afterwards), and runs with bounded
// concurrency on p-queue. Per-key attempt counts feed the backoff and reset on success.
import PQueue from 'p-queue';
import type { Timer, TimerClock } from '../clock.ts';
import type { Logger } from '../log.ts';

export interface WorkQueueOptions {
  /** Keys processed at the same time. */
  concurrency: number;
  /** Does the work for one key. A throw is logged; scheduling the next run is the caller's job. */
  process: (key: string) => Promise<void>;
  /** Timers come from the clock, so tests drive the queue without waiting in real time. */
  clock: TimerClock;
  logger: Logger;
}

export interface WorkQueue {
  /** Process `key` as soon as a slot is free (cancels its timer). */
  add(key: string): void;
  /** Process `key` at `at`, replacing any timer it had; `at` in the past means now. */
  addAt(key: string, at: Date): void;
  /** Drop the key's timer and attempt count (the object is gone). A running process finishes. */
  forget(key: string): void;
  /** Counts a failed attempt and returns how many in a row there have been (1 for the first). */
  recordFailure(key: string): number;
  /** Resets the key's attempt count. */
  recordSuccess(key: string): void;
  /** When the key is next due by timer, if it has one. */
  scheduledAt(key: string): Date | undefined;
  /** Stops all timers, drops waiting keys, and resolves when running work has finished. */
  shutdown(): Promise<void>;
  /** Resolves when nothing waits in the queue or runs (timers are not counted). */
  onIdle(): Promise<void>;
}

export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const { clock, logger } = options;
  const pqueue = new PQueue({ concurrency: options.concurrency });
  const timers = new Map<string, { timer: Timer; at: Date }>();
  const waiting = new Set<string>();
  const running = new Set<string>();
  const again = new Set<string>();
  const failures = new Map<string, number>();
  let closed = false;

  const clearTimer = (key: string) => {
    const entry = timers.get(key);
    if (entry) {
      entry.timer.cancel();
      timers.delete(key);
    }
  };

  const run = async (key: string) => {
    waiting.delete(key);
    running.add(key);
    try {
      await options.process(key);
    } catch (err) {
      logger.error({ key, err }, 'work item failed unexpectedly');
    } finally {
      running.delete(key);
      if (again.delete(key)) enqueue(key);
    }
  };

  const enqueue = (key: string) => {
    if (closed || waiting.has(key)) return;
    if (running.has(key)) {
      again.add(key);
      return;
    }
    waiting.add(key);
    void pqueue.add(() => run(key));
  };

  const arm = (key: string, at: Date) => {
    const delayMs = at.getTime() - clock.now().getTime();
    if (delayMs <= 0) {
      enqueue(key);
      return;
    }
    // A pending requeue alone does not keep the process alive after shutdown (TimerClock contract).
    const timer = clock.setTimer(() => {
      timers.delete(key);
      enqueue(key);
    }, delayMs);
    timers.set(key, { timer, at });
  };

  return {
    add(key) {
      clearTimer(key);
      enqueue(key);
    },
    addAt(key, at) {
      if (closed) return;
      clearTimer(key);
      arm(key, at);
    },
    forget(key) {
      clearTimer(key);
      failures.delete(key);
    },
    recordFailure(key) {
      const count = (failures.get(key) ?? 0) + 1;
      failures.set(key, count);
      return count;
    },
    recordSuccess(key) {
      failures.delete(key);
    },
    scheduledAt(key) {
      return timers.get(key)?.at;
    },
    async shutdown() {
      closed = true;
      for (const key of [...timers.keys()]) clearTimer(key);
      pqueue.clear();
      waiting.clear();
      again.clear();
      await pqueue.onIdle();
    },
    onIdle() {
      return pqueue.onIdle();
    },
  };
}
