// A list-then-watch cache of one kind of object (client-go's reflector + store, reduced to what the
// controller needs), shared by the Secret, Namespace and Pod informers.
//
// - The list is read in pages (`limit`), and every page is applied as it arrives: the work queue starts
//   on the first Secrets while later pages are still on the wire, and no single response has to hold a
//   large cluster's Secrets at once. A page's items are parsed one at a time as they are applied
//   (list-page-decoder.ts), into a buffer the pages of one list share.
// - `transform` decides what is kept, per object, before anything is stored: an object it turns down is
//   never cached (and is reported deleted if it was), so the cache holds the few fields that are needed,
//   not whole objects with managedFields and data nobody reads.
// - Any failure restarts the loop with backoff and is reported; 410 Gone (a resourceVersion too old)
//   relists at once. Nothing ever stops it but stop().
import { setTimeout as wait } from 'node:timers/promises';
import { backoffDelayMs } from '../backoff.ts';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { KubeApiError, ResponseTooLargeError, type KubeApi, type ListPage, type WatchEvent } from './api-client.ts';
import { classifyKubeError } from './errors.ts';
import { createPageBuffer } from './page-buffer.ts';
import type { ItemFilter } from './list-item-filter.ts';

export type CacheEventType = 'added' | 'updated' | 'deleted';

/** The parts of metadata the cache itself reads. */
interface RawObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export interface ListWatchOptions<T> {
  api: KubeApi;
  /** Collection path, e.g. `/api/v1/secrets` or `/api/v1/namespaces/x/secrets`. */
  path: string;
  fieldSelector?: string;
  /** Objects per list page at most; default 500 (client-go's pager default). */
  pageSize?: number;
  /**
   * Characters one list page may hold; default 16 Mi. A page of large objects (a tenant's 1 MiB
   * Secrets) is cut off at this size and asked for again with fewer objects, and the next pages are
   * sized from the objects seen, so no single answer can take a large share of the memory limit.
   */
  maxPageChars?: number;
  /** What the cache keeps of a raw object; undefined: not kept. Must not hold on to `raw`'s large fields. */
  transform: (raw: unknown) => T | undefined;
  /** List items it rules out are not parsed: transform must turn down every object they could be. */
  itemFilter?: ItemFilter | undefined;
  /** Secrets: list and watch them in protobuf where the server offers it (secret-protobuf.ts says why). */
  secretsAsProtobuf?: boolean | undefined;
  /**
   * Called for each change, in order; `previous` is what the cache held before an update. A handler
   * that throws is logged, never breaks the cache.
   */
  onEvent: (type: CacheEventType, object: T, previous?: T) => void;
  /** Called when a list completes, with the number of objects kept. */
  onListed?: (kept: number, first: boolean) => void;
  /** Called for each failure that restarts the loop (before the backoff). */
  onError?: ((error: RegcredError) => void) | undefined;
  /** Names the cache in logs and errors, e.g. `Secrets in all namespaces`. */
  description: string;
  logger: Logger;
  random: Random;
  /** Restart backoff after a failure; defaults 1 s doubling up to 60 s, jittered. */
  restartBaseMs?: number | undefined;
  restartMaxMs?: number | undefined;
}

export interface ListWatchCache<T> {
  /** Starts the loop; resolves when the first list has completed or failed (the loop goes on either way). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** By `namespace/name` (or `name` for cluster-scoped objects). */
  get(key: string): T | undefined;
  list(): T[];
  /** True once a list has completed. */
  hasSynced(): boolean;
}

/** The server no longer has our resourceVersion (or continue token): list again from scratch. */
class Expired extends Error {}

/** A core/v1 collection, cluster-wide (`namespace` undefined) or in one namespace. */
export function coreCollectionPath(resource: string, namespace: string | undefined): string {
  return namespace === undefined ? `/api/v1/${resource}` : `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

function keyOfRaw(raw: RawObject): string | undefined {
  const name = raw.metadata?.name;
  return name ? objectKey(raw.metadata?.namespace, name) : undefined;
}

/** Objects for the next page: what fills about a quarter of maxPageChars at the last page's average size. */
export function nextPageLimit(chars: number, items: number, pageSize: number, maxPageChars: number): number {
  if (items === 0 || chars === 0) return pageSize;
  const perItem = chars / items;
  return Math.max(1, Math.min(pageSize, Math.floor(maxPageChars / 4 / perItem)));
}

/** client-go's watch timeout: random between 5 and 10 minutes, so many watchers do not reconnect at once. */
function watchTimeoutSeconds(random: Random): number {
  return Math.floor(300 + random() * 300);
}

export function createListWatch<T>(options: ListWatchOptions<T>): ListWatchCache<T> {
  const { api, path, logger, random, transform, secretsAsProtobuf } = options;
  const pageSize = options.pageSize ?? 500;
  const maxPageChars = options.maxPageChars ?? 16 * 1024 * 1024;
  const baseMs = options.restartBaseMs ?? 1000;
  const maxMs = options.restartMaxMs ?? 60_000;
  const store = new Map<string, T>();
  let resourceVersion: string | undefined;
  let synced = false;
  let failures = 0;
  let stopping = new AbortController();
  let loop: Promise<void> | undefined;
  let firstListSettled: (() => void) | undefined;

  const emit = (type: CacheEventType, object: T, previous?: T) => {
    try {
      options.onEvent(type, object, previous);
    } catch (err) {
      logger.error({ cache: options.description, err: (err as Error)?.name }, 'cache event handler failed');
    }
  };

  /** Applies one object as the server now has it. */
  const apply = (raw: RawObject): string | undefined => {
    const key = keyOfRaw(raw);
    if (key === undefined) return undefined;
    const kept = transform(raw);
    const previous = store.get(key);
    if (kept === undefined) {
      if (previous !== undefined) {
        store.delete(key);
        emit('deleted', previous);
      }
      return undefined;
    }
    store.set(key, kept);
    emit(previous === undefined ? 'added' : 'updated', kept, previous);
    return key;
  };

  const relist = async (signal: AbortSignal) => {
    const seen = new Set<string>();
    let continueToken: string | undefined;
    let listedVersion: string | undefined;
    let limit = pageSize;
    // Every page is read into the same buffer, and applied before the next is asked for.
    const buffer = createPageBuffer();
    for (;;) {
      let page: ListPage;
      let chars = 0;
      try {
        page = await api.requestList(path, {
          query: { limit, continue: continueToken, fieldSelector: options.fieldSelector },
          maxResponseChars: maxPageChars,
          buffer,
          onResponseChars: (n) => (chars = n),
          secretsAsProtobuf,
        });
      } catch (err) {
        // An expired continue token: the snapshot is gone, start over (client-go falls back the same way).
        if (err instanceof KubeApiError && err.status === 410) throw new Expired();
        // Too large: the same page again with fewer objects (a continue token can be reused).
        if (err instanceof ResponseTooLargeError && limit > 1) {
          limit = Math.max(1, Math.floor(limit / 8));
          continue;
        }
        throw err;
      }
      if (signal.aborted) return;
      limit = nextPageLimit(chars, page.itemCount, pageSize, maxPageChars);
      // Each item is parsed as it is applied, and is garbage once transform has taken what it keeps. One
      // passed over unparsed is not seen: if the cache held it, the sweep below reports it deleted.
      for (const item of page.items(options.itemFilter)) {
        const key = apply(item as RawObject);
        if (key !== undefined) seen.add(key);
      }
      continueToken = page.metadata?.continue || undefined;
      // Every page of one list is served from the first page's snapshot: any page's version will do.
      listedVersion = page.metadata?.resourceVersion ?? listedVersion;
      if (continueToken === undefined) break;
    }
    for (const [key, object] of store) {
      if (seen.has(key)) continue;
      store.delete(key);
      emit('deleted', object);
    }
    resourceVersion = listedVersion;
    const first = !synced;
    synced = true;
    failures = 0;
    options.onListed?.(store.size, first);
  };

  const onWatchEvent = (event: WatchEvent) => {
    const object = event.object as RawObject & { code?: unknown };
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        apply(object);
        break;
      case 'DELETED': {
        const key = keyOfRaw(object);
        const previous = key === undefined ? undefined : store.get(key);
        if (key !== undefined && previous !== undefined) {
          store.delete(key);
          emit('deleted', previous);
        }
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR':
        if (object.code === 410) throw new Expired();
        throw new KubeApiError(typeof object.code === 'number' ? object.code : 500, undefined);
      default:
        return;
    }
    resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
  };

  const watch = async (signal: AbortSignal) => {
    const query = { resourceVersion, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds(random), fieldSelector: options.fieldSelector };
    await api.watch(path, query, onWatchEvent, signal, { secretsAsProtobuf });
  };

  // Resolves early (never rejects) when the loop is stopped.
  const sleep = (ms: number, signal: AbortSignal) => wait(ms, undefined, { signal }).catch(() => undefined);

  const run = async (signal: AbortSignal) => {
    while (!signal.aborted) {
      const startedMs = Date.now();
      try {
        if (resourceVersion === undefined) {
          try {
            await relist(signal);
          } finally {
            firstListSettled?.();
            firstListSettled = undefined;
          }
        }
        if (signal.aborted) return;
        await watch(signal);
        // The server closes every watch after its timeout; one that closes at once, over and over,
        // must not turn into a busy loop.
        if (Date.now() - startedMs < 1000) await sleep(baseMs, signal);
        else failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof Expired) {
          resourceVersion = undefined;
          logger.info({ cache: options.description }, 'resourceVersion expired; listing again');
          continue;
        }
        const error = classifyKubeError(err, `list/watch ${options.description}`);
        options.onError?.(error);
        const delay = backoffDelayMs(failures + 1, { baseMs, maxMs }, random);
        failures++;
        // The server and the cause (ECONNREFUSED, TLS: ..., timeout, HTTP 403 Forbidden): what an operator
        // needs to tell a wrong address from a firewall from RBAC. classifyKubeError's message holds no body.
        logger.warn(
          { cache: options.description, server: api.server, code: error.code, status: error.status, error: error.message, restartInMs: Math.round(delay) },
          'list/watch failed; restarting',
        );
        await sleep(delay, signal);
      }
    }
  };

  return {
    async start() {
      if (loop !== undefined) return;
      stopping = new AbortController();
      const listed = new Promise<void>((resolve) => (firstListSettled = resolve));
      loop = run(stopping.signal);
      await Promise.race([listed, loop]);
    },
    async stop() {
      stopping.abort();
      await loop;
      loop = undefined;
    },
    get: (key) => store.get(key),
    list: () => [...store.values()],
    hasSynced: () => synced,
  };
}
