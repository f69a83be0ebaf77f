// The keys waiting for an instant (a token's refresh, a retry), under ONE clock timer: a binary min-heap
// of (instant, key) with lazy deletion, and a map from key to its current instant. A timer per key cost
// ~750 bytes (Node's Timeout, its closure, the cancel handle, a Date) and was the controller's largest
// per-Secret item after the Secret itself; this costs about a tenth.
import type { Timer, TimerClock } from '../clock.ts';

export interface DueKeys {
  /** `key` is due at `atMs` (epoch ms), replacing any instant it had. */
  set(key: string, atMs: number): void;
  /** Forgets the key's instant; false when it had none. */
  delete(key: string): boolean;
  get(key: string): number | undefined;
  /** Forgets every key and stops the timer. */
  clear(): void;
  readonly size: number;
}

/** Heap entries left behind by set()/delete() are dropped in one rebuild once they outnumber the live ones. */
const REBUILD_SLACK = 1024;

export function createDueKeys(clock: TimerClock, onDue: (key: string) => void): DueKeys {
  const dueAt = new Map<string, number>();
  // Parallel arrays rather than an object per entry: two slots, no allocation per push.
  let heapAt: number[] = [];
  let heapKey: string[] = [];
  let timer: Timer | undefined;
  let timerAtMs = Infinity;

  const less = (i: number, j: number) => heapAt[i]! < heapAt[j]!;
  const swap = (i: number, j: number) => {
    [heapAt[i], heapAt[j]] = [heapAt[j]!, heapAt[i]!];
    [heapKey[i], heapKey[j]] = [heapKey[j]!, heapKey[i]!];
  };
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(i, parent)) return;
      swap(i, parent);
      i = parent;
    }
  };
  const down = (i: number) => {
    const n = heapAt.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && less(right, left) ? right : left;
      if (!less(child, i)) return;
      swap(i, child);
      i = child;
    }
  };
  const pop = () => {
    const last = heapAt.length - 1;
    swap(0, last);
    heapAt.pop();
    heapKey.pop();
    if (heapAt.length > 0) down(0);
  };
  /** An entry is live while the map still holds the key at that very instant. */
  const live = (i: number) => dueAt.get(heapKey[i]!) === heapAt[i];
  const dropStaleTop = () => {
    while (heapAt.length > 0 && !live(0)) pop();
  };
  const rebuild = () => {
    heapAt = [];
    heapKey = [];
    for (const [key, atMs] of dueAt) {
      heapAt.push(atMs);
      heapKey.push(key);
    }
    for (let i = (heapAt.length >> 1) - 1; i >= 0; i--) down(i);
  };

  const arm = () => {
    dropStaleTop();
    const next = heapAt.length > 0 ? heapAt[0]! : Infinity;
    if (next === timerAtMs) return;
    timer?.cancel();
    timer = undefined;
    timerAtMs = next;
    if (next === Infinity) return;
    // At least 1 ms: a timer that fires a hair early (wall clock against the timer's monotonic one)
    // re-arms instead of spinning.
    timer = clock.setTimer(fire, Math.max(1, next - clock.now().getTime()));
  };

  function fire() {
    timer = undefined;
    timerAtMs = Infinity;
    const nowMs = clock.now().getTime();
    const due: string[] = [];
    for (dropStaleTop(); heapAt.length > 0 && heapAt[0]! <= nowMs; dropStaleTop()) {
      const key = heapKey[0]!;
      dueAt.delete(key);
      pop();
      due.push(key);
    }
    arm();
    for (const key of due) onDue(key);
  }

  return {
    set(key, atMs) {
      dueAt.set(key, atMs);
      heapAt.push(atMs);
      heapKey.push(key);
      up(heapAt.length - 1);
      if (heapAt.length > 2 * dueAt.size + REBUILD_SLACK) rebuild();
      if (atMs < timerAtMs) arm();
    },
    delete(key) {
      // Its heap entry stays until it reaches the top or a rebuild; the timer may fire for nothing once.
      return dueAt.delete(key);
    },
    get: (key) => dueAt.get(key),
    clear() {
      dueAt.clear();
      heapAt = [];
      heapKey = [];
      timer?.cancel();
      timer = undefined;
      timerAtMs = Infinity;
    },
    get size() {
      return dueAt.size;
    },
  };
}
