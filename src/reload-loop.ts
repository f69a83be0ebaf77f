// Reloading a watched configuration file: one reload at a time, a burst of file events debounced into
// one, events that arrive during a reload causing exactly one more, and a periodic re-read as the safety
// net for file events a watch can miss. A reload swaps in only a value that loaded completely and differs
// from the current one (by fingerprint); a failure keeps the current one. Shared by the sts
// configuration and the identity policy.

import { systemClock, type Timer, type TimerClock } from './clock.ts';

export type ReloadResult = 'success' | 'failure' | 'unchanged';

export interface ReloadLoopOptions<T extends { readonly fingerprint: string }> {
  /** The value loaded at start-up. */
  initial: T;
  /** Reads and validates the file(s); throws to keep the current value. */
  load: () => Promise<T>;
  /** A load failed (the current value stays): report it. */
  onFailure: (err: unknown) => void;
  /** A new value replaced the current one. */
  onSwap: (next: T) => void;
  onReloadResult?: ((result: ReloadResult) => void) | undefined;
  /** Quiet time after the last file event before reloading. */
  debounceMs: number;
  /** Periodic re-read; 0 turns it off. */
  pollIntervalMs: number;
  /** Where the debounce and poll timers come from; default the system clock. */
  clock?: TimerClock;
}

export interface ReloadLoop<T> {
  current(): T;
  /** Reloads now, or once more after the reload under way. Never rejects. */
  reload(): Promise<void>;
  /** Reloads after `debounceMs` without further calls: hand this to the file watcher. */
  schedule(): void;
  /** Stops reloading; a load still under way when it is called swaps nothing in. */
  close(): void;
}

export function createReloadLoop<T extends { readonly fingerprint: string }>(options: ReloadLoopOptions<T>): ReloadLoop<T> {
  let current = options.initial;
  const clock = options.clock ?? systemClock;
  let timer: Timer | undefined;
  let poll: Timer | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  async function reloadOnce(): Promise<void> {
    let next: T;
    try {
      next = await options.load();
    } catch (err) {
      options.onFailure(err);
      options.onReloadResult?.('failure');
      return;
    }
    if (closed) return;
    if (next.fingerprint === current.fingerprint) {
      options.onReloadResult?.('unchanged');
      return;
    }
    current = next;
    options.onSwap(next);
    options.onReloadResult?.('success');
  }

  function reload(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await reloadOnce();
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  }

  const armPoll = () => {
    poll = clock.setTimer(() => {
      void reload();
      if (!closed) armPoll();
    }, options.pollIntervalMs);
  };
  if (options.pollIntervalMs > 0) armPoll();

  return {
    current: () => current,
    reload,
    schedule() {
      if (closed) return;
      timer?.cancel();
      timer = clock.setTimer(() => void reload(), options.debounceMs);
    },
    close() {
      closed = true;
      timer?.cancel();
      poll?.cancel();
    },
  };
}
