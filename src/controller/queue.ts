// The keyed work queue: keys (`namespace/name`), not events. A key waits at most once (de-duplicated),
// has at most one timer (adding it again replaces the timer, like cert-manager's scheduler), is never
// processed twice at once (re-added while running → run once more afterwards), and runs with bounded
// concurrency on p-queue. Per-key attempt counts feed the backoff and reset on success. A key that
// falls due by its timer (a token to refresh, a retry) goes ahead of keys added by events, so a flood
// of new or changed Secrets (a tenant creating a thousand 1 MiB ones, each a slow write to report)
// never holds back the refreshes that keep the valid ones' tokens alive.
//
// Keys wait in ready-keys.ts and are handed to p-queue only when it has a free slot, so p-queue holds
// the running keys alone (a task waiting in it costs about 1 KB: ready-keys.ts). p-queue emits `empty`
// after each task once its own queue is empty, which with this use is after every task: that is when
// the next key goes in, before p-queue would call itself idle.
import PQueue from 'p-queue';
import type { TimerClock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { createDueKeys } from './due-keys.ts';
import { createReadyKeys } from './ready-keys.ts';

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
  /** Process `key` as soon as a slot is free (its timer is cancelled when it runs; until then it can still raise its priority). */
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

/** Priority of a key that fell due by its timer (higher runs first; events add at 0). */
const DUE_PRIORITY = 1;

export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const { clock, logger, concurrency } = options;
  const pqueue = new PQueue({ concurrency });
  // One clock timer for all keys (due-keys.ts): a key that falls due moves ahead of event-added ones.
  const timers = createDueKeys(clock, (key) => enqueue(key, DUE_PRIORITY));
  const waiting = createReadyKeys(DUE_PRIORITY + 1);
  const running = new Set<string>();
  const again = new Set<string>();
  const failures = new Map<string, number>();
  let closed = false;

  /** Hands waiting keys to p-queue while it has free slots. */
  const fill = () => {
    while (!closed && pqueue.pending + pqueue.size < concurrency) {
      const key = waiting.take();
      if (key === undefined) return;
      void pqueue.add(() => run(key));
    }
  };
  pqueue.addEventListener('empty', fill);

  const run = async (key: string) => {
    timers.delete(key);
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

  const enqueue = (key: string, priority = 0) => {
    if (closed) return;
    // Already waiting: it stays, or (queued by an event, now due) moves up to the due lane's end.
    if (waiting.priorityOf(key) === undefined && running.has(key)) {
      again.add(key);
      return;
    }
    waiting.push(key, priority);
    fill();
  };

  const arm = (key: string, at: Date) => {
    const delayMs = at.getTime() - clock.now().getTime();
    if (delayMs <= 0) {
      enqueue(key, DUE_PRIORITY);
      return;
    }
    // A pending requeue alone does not keep the process alive after shutdown (TimerClock contract).
    timers.set(key, at.getTime());
  };

  return {
    add(key) {
      // The timer stays until the key runs: should the key still be waiting when it falls due, it moves up.
      enqueue(key);
    },
    addAt(key, at) {
      if (closed) return;
      timers.delete(key);
      arm(key, at);
    },
    forget(key) {
      timers.delete(key);
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
      const atMs = timers.get(key);
      return atMs === undefined ? undefined : new Date(atMs);
    },
    async shutdown() {
      closed = true;
      timers.clear();
      waiting.clear();
      pqueue.clear();
      again.clear();
      await pqueue.onIdle();
    },
    onIdle() {
      return pqueue.onIdle();
    },
  };
}
