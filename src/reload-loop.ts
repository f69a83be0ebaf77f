// Reloading a watched configuration file: one reload at a time, a burst of file events debounced into
// one, events that arrive during a reload causing exactly one more, and a periodic re-read as the safety
// net for file events a watch can miss. Shared by the sts configuration and the identity policy.

export interface ReloadLoopOptions {
  /** Reads, validates and swaps in the file; must handle its own errors. */
  reloadOnce: () => Promise<void>;
  /** Quiet time after the last file event before reloading. */
  debounceMs: number;
  /** Periodic re-read; 0 turns it off. */
  pollIntervalMs: number;
}

export interface ReloadLoop {
  /** Reloads now, or once more after the reload under way. */
  reload(): Promise<void>;
  /** Reloads after `debounceMs` without further calls: hand this to the file watcher. */
  schedule(): void;
  /** True once closed: a reload that finishes after it must not swap anything in. */
  readonly closed: boolean;
  close(): void;
}

export function createReloadLoop(options: ReloadLoopOptions): ReloadLoop {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let closed = false;

  function reload(): Promise<void> {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await options.reloadOnce();
      } while (again && !closed);
    })().finally(() => {
      running = undefined;
    });
    return running;
  }

  const interval = options.pollIntervalMs > 0 ? setInterval(() => void reload(), options.pollIntervalMs) : undefined;
  interval?.unref();

  return {
    reload,
    schedule() {
      if (closed) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), options.debounceMs);
      timer.unref();
    },
    get closed() {
      return closed;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(interval);
    },
  };
}
