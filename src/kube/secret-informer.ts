// A read-only cache of Secrets of one type, kept by list-watch.ts with a server-side field selector (one
// cluster-wide, or one per configured namespace). Whether a Secret is cached is decided as it arrives
// (`keep`): the watch sees every Secret of its type in the cluster, the cache holds only those the
// controller acts on, so memory follows the managed Secrets, not the size of the cluster.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { KubeApi } from './api-client.ts';
import { coreCollectionPath, createListWatch, objectKey, type ListWatchCache } from './list-watch.ts';

/**
 * A Secret as the controller sees it: a frozen copy, so nothing downstream can mutate the informer's
 * cached object (sample-controller: "NEVER modify objects from the store").
 */
export interface SecretObject {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly type: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** base64 values, as the API returns them. */
  readonly data: Readonly<Record<string, string>>;
}

export type SecretEventType = 'added' | 'updated' | 'deleted';
export type SecretEventHandler = (type: SecretEventType, secret: SecretObject) => void;

export interface SecretInformer {
  start(): Promise<void>;
  stop(): Promise<void>;
  get(namespace: string, name: string): SecretObject | undefined;
  list(): SecretObject[];
  /** True once every watched scope has completed its first list. */
  hasSynced(): boolean;
  on(handler: SecretEventHandler): void;
}

export interface SecretInformerOptions {
  api: KubeApi;
  /** Namespaces to watch; empty means cluster-wide. */
  namespaces: readonly string[];
  logger: Logger;
  random: Random;
  /** Called for each failure that stopped a watch (before its restart). */
  onError?: (error: RegcredError) => void;
  /** Restart backoff after a failure; defaults 1 s doubling up to 60 s (list-watch.ts). */
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** Server-side field selector, e.g. `type=kubernetes.io/dockerconfigjson`. */
  fieldSelector: string;
  /**
   * Which Secrets the cache holds; default all. The others are never stored (only managedFields-free
   * copies of kept ones are). A cached Secret that stops matching (its opt-in annotation removed) is
   * reported as deleted: for the controller, it is gone.
   */
  keep?: (secret: V1Secret) => boolean;
  /** Name for logs, e.g. `pull` or `push`. */
  kind?: string;
}

export function toSecretObject(secret: V1Secret): SecretObject {
  const meta = secret.metadata ?? {};
  return Object.freeze({
    namespace: meta.namespace ?? '',
    name: meta.name ?? '',
    uid: meta.uid,
    resourceVersion: meta.resourceVersion,
    type: secret.type,
    labels: Object.freeze({ ...(meta.labels ?? {}) }),
    annotations: Object.freeze({ ...(meta.annotations ?? {}) }),
    data: Object.freeze({ ...(secret.data ?? {}) }),
  });
}

export function createSecretInformer(options: SecretInformerOptions): SecretInformer {
  const { logger } = options;
  const kind = options.kind ?? 'pull';
  const handlers: SecretEventHandler[] = [];
  const transform = (raw: unknown): SecretObject | undefined => {
    const secret = raw as V1Secret;
    if (options.keep !== undefined && !options.keep(secret)) return undefined;
    return toSecretObject(secret);
  };

  const makeScope = (namespace: string | undefined): ListWatchCache<SecretObject> =>
    createListWatch<SecretObject>({
      api: options.api,
      path: coreCollectionPath('secrets', namespace),
      fieldSelector: options.fieldSelector,
      transform,
      onEvent: (type, secret) => {
        for (const handler of handlers) handler(type, secret);
      },
      onListed: (secrets, first) => {
        if (first) logger.info({ namespace: namespace ?? '*', kind, secrets }, 'secret cache synced');
      },
      onError: options.onError,
      description: `${kind} Secrets in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}`,
      logger,
      random: options.random,
      restartBaseMs: options.restartBaseMs,
      restartMaxMs: options.restartMaxMs,
    });

  const scopes = new Map<string | undefined, ListWatchCache<SecretObject>>(
    options.namespaces.length === 0 ? [[undefined, makeScope(undefined)]] : options.namespaces.map((ns) => [ns, makeScope(ns)]),
  );
  const scopeFor = (namespace: string) => scopes.get(namespace) ?? scopes.get(undefined);

  return {
    async start() {
      await Promise.all([...scopes.values()].map((s) => s.start()));
    },
    async stop() {
      await Promise.all([...scopes.values()].map((s) => s.stop()));
    },
    get: (namespace, name) => scopeFor(namespace)?.get(objectKey(namespace, name)),
    list: () => [...scopes.values()].flatMap((s) => s.list()),
    hasSynced: () => [...scopes.values()].every((s) => s.hasSynced()),
    on(handler) {
      handlers.push(handler);
    },
  };
}

/**
 * Several informers seen as one (pull secrets and push secrets). A Secret's type is immutable, so a
 * key is only ever in one of them.
 */
export function combineSecretInformers(informers: readonly SecretInformer[]): SecretInformer {
  return {
    async start() {
      await Promise.all(informers.map((i) => i.start()));
    },
    async stop() {
      for (const informer of informers) await informer.stop();
    },
    get(namespace, name) {
      for (const informer of informers) {
        const secret = informer.get(namespace, name);
        if (secret) return secret;
      }
      return undefined;
    },
    list: () => informers.flatMap((i) => i.list()),
    hasSynced: () => informers.every((i) => i.hasSynced()),
    on(handler) {
      for (const informer of informers) informer.on(handler);
    },
  };
}
