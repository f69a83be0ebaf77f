// The keys that wait for a free slot of the work queue, highest priority first and in arrival order
// within a priority. They wait here, not in p-queue: a task waiting in p-queue costs about 1 KB of heap
// (its closure, promise, options and waiting-task record; in-process, 50,000 keys), and at a cold start
// every managed Secret waits at once, so 50,000 Secrets held some 50 MB until each had been written.
// Here a waiting key costs its entry in two arrays and a map (the key string is the cache's).
//
// Raising a waiting key's priority adds it to the higher lane and leaves the old entry behind: each
// entry carries a number unique to it (a sequence number and its lane), and only the entry `waiting`
// still points to is taken, so a stale one is skipped even when the key has been run and queued again.

export interface ReadyKeys {
  /**
   * Queues `key` at `priority` (0 to lanes − 1, higher first). A key that waits already stays where it
   * is, unless `priority` is higher: then it moves to the end of that lane.
   */
  push(key: string, priority: number): void;
  /** The priority `key` waits at; undefined if it does not wait. */
  priorityOf(key: string): number | undefined;
  /** Removes and returns the next key, or undefined when none waits. */
  take(): string | undefined;
  /** Drops every waiting key. */
  clear(): void;
  /** How many keys wait. */
  readonly size: number;
}

/** One lane: a FIFO of (key, entry number) pairs, read from `head`, compacted when half is read. */
interface Lane {
  keys: string[];
  entries: number[];
  head: number;
}

/** Entry numbers stay below 2^30, small integers V8 keeps unboxed; equal ones are 2^30 pushes apart. */
const ENTRY_LIMIT = 2 ** 30;

export function createReadyKeys(lanes: number): ReadyKeys {
  if (!(Number.isInteger(lanes) && lanes >= 1 && lanes <= 16)) throw new RangeError(`lanes must be 1..16, not ${lanes}`);
  const lane: Lane[] = Array.from({ length: lanes }, () => ({ keys: [], entries: [], head: 0 }));
  /** Waiting key → the number of its live entry: sequence × lanes + lane. */
  const waiting = new Map<string, number>();
  const sequences = Math.floor(ENTRY_LIMIT / lanes);
  let next = 0;
  const laneOf = (key: string): number | undefined => {
    const entry = waiting.get(key);
    return entry === undefined ? undefined : entry % lanes;
  };

  const compact = (l: Lane) => {
    if (l.head === l.keys.length) {
      l.keys.length = 0;
      l.entries.length = 0;
      l.head = 0;
    } else if (l.head > 1024 && l.head * 2 > l.keys.length) {
      l.keys.splice(0, l.head);
      l.entries.splice(0, l.head);
      l.head = 0;
    }
  };

  return {
    push(key, priority) {
      if (!(Number.isInteger(priority) && priority >= 0 && priority < lanes)) throw new RangeError(`priority ${priority} is not a lane of 0..${lanes - 1}`);
      const current = laneOf(key);
      if (current !== undefined && current >= priority) return;
      const entry = next * lanes + priority;
      next = (next + 1) % sequences;
      lane[priority]!.keys.push(key);
      lane[priority]!.entries.push(entry);
      waiting.set(key, entry);
    },
    priorityOf: laneOf,
    take() {
      for (let p = lanes - 1; p >= 0; p--) {
        const l = lane[p]!;
        while (l.head < l.keys.length) {
          const key = l.keys[l.head]!;
          const entry = l.entries[l.head]!;
          l.head++;
          if (waiting.get(key) !== entry) continue;
          waiting.delete(key);
          compact(l);
          return key;
        }
        compact(l);
      }
      return undefined;
    },
    clear() {
      for (const l of lane) {
        l.keys.length = 0;
        l.entries.length = 0;
        l.head = 0;
      }
      waiting.clear();
    },
    get size() {
      return waiting.size;
    },
  };
}
