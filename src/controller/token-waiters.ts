// Which Secrets wait for a token of which (identity, registry, subject): a Secret whose exchange failed
// transiently waits here as well as on its own backoff timer. When any exchange for that token key
// succeeds, all its waiters are released at once and take the new token from the cache, so the end of
// an STS outage is one exchange and a burst of writes, not one backoff timer per Secret.
export interface TokenWaiters {
  /** `secretKey` waits for a token of `tokenKey` (replaces what it waited for before). */
  wait(secretKey: string, tokenKey: string): void;
  /** `secretKey` waits for nothing any more (it succeeded, failed otherwise, or is gone). */
  forget(secretKey: string): void;
  /** Every Secret waiting for `tokenKey`; they wait no more. */
  release(tokenKey: string): string[];
  readonly size: number;
}

export function createTokenWaiters(): TokenWaiters {
  const byToken = new Map<string, Set<string>>();
  const bySecret = new Map<string, string>();

  const forget = (secretKey: string) => {
    const tokenKey = bySecret.get(secretKey);
    if (tokenKey === undefined) return;
    bySecret.delete(secretKey);
    const set = byToken.get(tokenKey);
    set?.delete(secretKey);
    if (set?.size === 0) byToken.delete(tokenKey);
  };

  return {
    wait(secretKey, tokenKey) {
      forget(secretKey);
      bySecret.set(secretKey, tokenKey);
      let set = byToken.get(tokenKey);
      if (!set) byToken.set(tokenKey, (set = new Set()));
      set.add(secretKey);
    },
    forget,
    release(tokenKey) {
      const set = byToken.get(tokenKey);
      if (!set) return [];
      byToken.delete(tokenKey);
      for (const secretKey of set) bySecret.delete(secretKey);
      return [...set];
    },
    get size() {
      return bySecret.size;
    },
  };
}
