// A bounded LRU of tokens already verified, keyed by the SHA-256 of the token (never the token
// itself), each entry dropped once the token expires.
import { createHash } from 'node:crypto';

export interface VerifiedTokenCacheOptions {
  /** Entries kept at most; the least recently used goes first. */
  maxEntries?: number;
}

export class VerifiedTokenCache<T> {
  readonly #maxEntries: number;
  // Map keeps insertion order; re-inserting on a hit makes it an LRU.
  readonly #entries = new Map<string, { value: T; expiresAtMs: number }>();

  constructor(options: VerifiedTokenCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get(token: string, nowMs: number): T | undefined {
    const key = VerifiedTokenCache.keyOf(token);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAtMs <= nowMs) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(token: string, value: T, expiresAtMs: number): void {
    const key = VerifiedTokenCache.keyOf(token);
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAtMs });
    while (this.#entries.size > this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
