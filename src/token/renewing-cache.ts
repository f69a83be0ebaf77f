// The one renewing-credential primitive: values per key that are reused until their renewal instant,
// renewed at most once at a time per key (single-flight: every caller waiting shares one fetch and its
// result), and, when asked for, kept through a failed renewal while they still have life left. Serves
// the registry-token cache (exchange/token-cache.ts) and the ServiceAccount tokens (service-account-token.ts).
import type { Clock } from '../clock.ts';

/** What one fetch produced. */
export interface Renewed<T> {
  value: T;
  /** From this instant on get() fetches anew (peek() no longer returns the value). */
  renewAt: Date;
  /** When the value stops working: the end of keepOnErrorMarginMs, and what eviction looks at first. */
  expiresAt: Date;
}

export interface RenewingCacheOptions<T> {
  clock: Clock;
  /**
   * A failed renewal hands out the old value instead of the error while it has more than this left
   * before expiresAt; undefined: never (the caller sees the error; nothing is cached either way).
   */
  keepOnErrorMarginMs?: number;
  /** Values kept at most; expired ones go first, then the least recently stored. Default: no bound. */
  maxEntries?: number;
  /** Called after a fetch stored its value; must not throw. */
  onStored?: (key: string, value: T) => void;
}

export interface RenewingCache<T> {
  /** The value for `key` while it is not due for renewal; never fetches. */
  peek(key: string): T | undefined;
  /** The value not yet due, the renewal in flight, or a new one: `fetch` runs once per renewal, not per caller. */
  get(key: string, fetch: () => Promise<Renewed<T>>): Promise<T>;
  /** Drops the value for `key`; a renewal in flight still stores its result. */
  forget(key: string): void;
  readonly size: number;
}

interface Entry<T> {
  value: T;
  renewAtMs: number;
  expiresAtMs: number;
}

export function createRenewingCache<T>(options: RenewingCacheOptions<T>): RenewingCache<T> {
  const { clock } = options;
  const maxEntries = options.maxEntries ?? Infinity;
  const entries = new Map<string, Entry<T>>();
  const inFlight = new Map<string, Promise<T>>();
  const nowMs = () => clock.now().getTime();

  function peek(key: string): T | undefined {
    const entry = entries.get(key);
    return entry && nowMs() < entry.renewAtMs ? entry.value : undefined;
  }

  function store(key: string, renewed: Renewed<T>): void {
    entries.delete(key); // re-insert so Map order is "least recently stored first"
    entries.set(key, { value: renewed.value, renewAtMs: renewed.renewAt.getTime(), expiresAtMs: renewed.expiresAt.getTime() });
    if (entries.size <= maxEntries) return;
    const now = nowMs();
    for (const [k, e] of entries) if (e.expiresAtMs <= now) entries.delete(k);
    for (const k of entries.keys()) {
      if (entries.size <= maxEntries) break;
      entries.delete(k);
    }
  }

  async function renew(key: string, fetch: () => Promise<Renewed<T>>): Promise<T> {
    let renewed: Renewed<T>;
    try {
      renewed = await fetch();
    } catch (err) {
      // The old value, while it still works: a hiccup of the source must not stop its users.
      const previous = entries.get(key);
      const margin = options.keepOnErrorMarginMs;
      if (previous && margin !== undefined && nowMs() < previous.expiresAtMs - margin) return previous.value;
      throw err;
    }
    store(key, renewed);
    options.onStored?.(key, renewed.value);
    return renewed.value;
  }

  return {
    peek,
    get(key, fetch) {
      const entry = entries.get(key);
      if (entry && nowMs() < entry.renewAtMs) return Promise.resolve(entry.value);
      let flight = inFlight.get(key);
      if (!flight) {
        // Failures are not cached: the next get() after this one fetches again.
        flight = renew(key, fetch).finally(() => inFlight.delete(key));
        inFlight.set(key, flight);
      }
      return flight;
    },
    forget: (key) => void entries.delete(key),
    get size() {
      return entries.size;
    },
  };
}
