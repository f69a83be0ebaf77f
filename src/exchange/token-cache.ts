// Registry tokens per (identity, registry, subject) for one exchanger: reused until their refresh
// instant, and single-flight so concurrent reconciles share one exchange and its result (both from
// token/renewing-cache.ts).
import type { Clock } from '../clock.ts';
import { refreshAt, type RefreshSchedule } from '../token/refresh-time.ts';
import { createRenewingCache, type Renewed } from '../token/renewing-cache.ts';
import type { Exchanger, RegistryToken } from './exchanger.ts';

export interface TokenCacheOptions {
  exchanger: Exchanger;
  clock: Clock;
  /** Must be the schedule decide() uses, so both agree on when a token is due. */
  refresh: RefreshSchedule;
  /** Entries kept at most; expired ones go first, then the least recently stored. Default 10 000. */
  maxEntries?: number;
  /** Called after an exchange stored a new token (e.g. to wake Secrets waiting for it); must not throw. */
  onStored?: (key: string, token: RegistryToken) => void;
}

/** The cache's key for (identity, registry, subject): also what onStored reports. */
export function tokenKeyOf(key: TokenRequestKey): string {
  return JSON.stringify([key.identity, key.registry, key.subject]);
}

export interface TokenRequestKey {
  identity: string;
  registry: string;
  /** Who asks: the controller's own ServiceAccount today, per-workload ServiceAccounts later. */
  subject: string;
}

export interface TokenCacheGetRequest extends TokenRequestKey {
  /** Produces the subject's credential; called once per exchange, not per caller. */
  subjectToken: () => Promise<string>;
  /** Stops this caller's wait only; a shared exchange keeps going for the others. */
  signal?: AbortSignal;
  /** Passed to the exchanger (capabilities); one identity is never both pull and push (identity policy). */
  access?: 'pull' | 'push';
}

export interface TokenCache {
  /** The cached token when it is not yet due for refresh; never starts an exchange. */
  peek(identity: string, registry: string, subject: string): RegistryToken | undefined;
  /** A token not yet due: the cached one, the one being exchanged right now, or a new exchange's. */
  get(request: TokenCacheGetRequest): Promise<RegistryToken>;
  /** Drops the cached token (e.g. the registry refused it). An exchange in flight is not affected. */
  forget(identity: string, registry: string, subject: string): void;
  readonly size: number;
}

export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const { exchanger, clock, refresh } = options;
  // No keepOnErrorMarginMs: a failed exchange reaches the caller, whose Secret keeps its old token.
  const cache = createRenewingCache<RegistryToken>({
    clock,
    maxEntries: options.maxEntries ?? 10_000,
    ...(options.onStored ? { onStored: options.onStored } : {}),
  });
  const keyOf = (identity: string, registry: string, subject: string): string => tokenKeyOf({ identity, registry, subject });

  const exchange = async (request: TokenCacheGetRequest): Promise<Renewed<RegistryToken>> => {
    const { identity, registry } = request;
    const subjectToken = await request.subjectToken();
    const token = await exchanger.exchange({ identity, registry, subjectToken, ...(request.access ? { access: request.access } : {}) });
    // A token without iat/nbf has no known lifetime; counting it from its arrival keeps a short-lived one
    // from being due the moment it is stored (which would make every get() exchange again).
    const times = token.issuedAt !== undefined || token.notBefore !== undefined ? token : { ...token, issuedAt: clock.now() };
    return { value: token, renewAt: refreshAt(token.token, times, refresh), expiresAt: token.expiresAt };
  };

  return {
    peek: (identity, registry, subject) => cache.peek(keyOf(identity, registry, subject)),
    async get(request) {
      request.signal?.throwIfAborted();
      const flight = cache.get(keyOf(request.identity, request.registry, request.subject), () => exchange(request));
      if (!request.signal) return flight;
      return raceAbort(flight, request.signal);
    },
    forget: (identity, registry, subject) => cache.forget(keyOf(identity, registry, subject)),
    get size() {
      return cache.size;
    },
  };
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
