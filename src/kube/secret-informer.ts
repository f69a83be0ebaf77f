// A read-only cache of dockerconfigjson Secrets, kept by client-node ListWatches with a server-side field
// selector (one cluster-wide, or one per configured namespace). client-node stops a ListWatch on any error
// except 410 Gone; this module restarts it with backoff and reports the error, so the cache never goes
// quietly stale. A second instance watches Opaque Secrets for push secrets, keeping only those (see `keep`).
import { ListWatch, type V1Secret, type V1SecretList, type Watch } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import { classifyKubeError } from './errors.ts';
import type { KubeClients } from './kube-config.ts';

export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';
export const SECRET_FIELD_SELECTOR = `type=${DOCKER_CONFIG_JSON_TYPE}`;
/** Push secrets: Opaque, recognised by annotation (which no server-side selector can match). */
export const PUSH_SECRET_FIELD_SELECTOR = 'type=Opaque';

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
  clients: KubeClients;
  /** Namespaces to watch; empty means cluster-wide. */
  namespaces: readonly string[];
  logger: Logger;
  random: Random;
  /** Called for each failure that stopped a watch (before its restart). */
  onError?: (error: RegcredError) => void;
  /** Restart backoff after a failure; defaults 1 s doubling up to 60 s. */
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** Server-side field selector; default `type=kubernetes.io/dockerconfigjson`. */
  fieldSelector?: string;
  /**
   * Which Secrets the cache keeps. The others are dropped as they arrive (list items filtered, watch
   * ADDED/MODIFIED turned into DELETED, a no-op for a Secret not cached), so a watch over every Opaque
   * Secret of the cluster holds only the few push secrets in memory, not every Opaque Secret's data.
   * A Secret that stops matching (annotation removed) is reported as deleted.
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

interface Scope {
  namespace: string | undefined;
  watch: ListWatch<V1Secret>;
  synced: boolean;
  failures: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export function createSecretInformer(options: SecretInformerOptions): SecretInformer {
  const { clients, logger, random } = options;
  const baseMs = options.restartBaseMs ?? 1000;
  const maxMs = options.restartMaxMs ?? 60_000;
  const handlers: SecretEventHandler[] = [];
  const fieldSelector = options.fieldSelector ?? SECRET_FIELD_SELECTOR;
  const keep = options.keep;
  const kind = options.kind ?? 'pull';
  let stopped = true;
  // The filter sits between the watch stream and ListWatch's cache: ListWatch has no transform hook.
  const watchClient: Watch = keep === undefined
    ? clients.watch
    : ({
        watch: (path, params, callback, done) =>
          clients.watch.watch(path, params, (phase, object, raw) => {
            if ((phase === 'ADDED' || phase === 'MODIFIED') && !keep(object as V1Secret)) return callback('DELETED', object, raw);
            return callback(phase, object, raw);
          }, done),
      } as Watch);

  const emit = (type: SecretEventType, secret: V1Secret) => {
    const view = toSecretObject(secret);
    for (const handler of handlers) handler(type, view);
  };

  const makeScope = (namespace: string | undefined): Scope => {
    const path = namespace === undefined ? '/api/v1/secrets' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
    const scope = {} as Scope;
    const listFn = async (): Promise<V1SecretList> => {
      const listed =
        namespace === undefined
          ? await clients.core.listSecretForAllNamespaces({ fieldSelector })
          : await clients.core.listNamespacedSecret({ namespace, fieldSelector });
      const list = keep === undefined ? listed : { ...listed, items: listed.items.filter(keep) };
      // ListWatch adds the listed items synchronously right after this promise settles; a macrotask
      // later the cache is complete, which is when the scope counts as synced.
      setImmediate(() => {
        if (!scope.synced) logger.info({ namespace: namespace ?? '*', kind, secrets: list.items.length }, 'secret cache synced');
        scope.synced = true;
        scope.failures = 0;
      });
      return list;
    };
    const watch = new ListWatch<V1Secret>(path, watchClient, listFn, false, undefined, fieldSelector);
    watch.on('add', (s) => emit('added', s));
    watch.on('update', (s) => {
      scope.failures = 0;
      emit('updated', s);
    });
    watch.on('delete', (s) => emit('deleted', s));
    watch.on('error', (err: unknown) => {
      // stop() aborts the watch request, which can surface here as an error: not one to report.
      if (stopped) return;
      const error = classifyKubeError(err, `watch Secrets in ${namespace ?? 'all namespaces'}`);
      options.onError?.(error);
      const delay = Math.min(maxMs, baseMs * 2 ** scope.failures) * (0.5 + random() / 2);
      scope.failures++;
      logger.warn({ namespace: namespace ?? '*', kind, code: error.code, status: error.status, restartInMs: Math.round(delay) }, 'secret watch stopped; restarting');
      clearTimeout(scope.restartTimer);
      scope.restartTimer = setTimeout(() => {
        scope.restartTimer = undefined;
        if (!stopped) void watch.start().catch(() => undefined);
      }, delay);
    });
    Object.assign(scope, { namespace, watch, synced: false, failures: 0, restartTimer: undefined });
    return scope;
  };

  const scopes: Scope[] = options.namespaces.length === 0 ? [makeScope(undefined)] : options.namespaces.map((ns) => makeScope(ns));
  const byNamespace = new Map(scopes.map((s) => [s.namespace, s]));
  const scopeFor = (namespace: string) => byNamespace.get(namespace) ?? byNamespace.get(undefined);

  return {
    async start() {
      stopped = false;
      // Errors surface through the 'error' handler (and its restart), not through this promise.
      await Promise.all(scopes.map((s) => s.watch.start().catch(() => undefined)));
    },
    async stop() {
      stopped = true;
      for (const scope of scopes) {
        clearTimeout(scope.restartTimer);
        await scope.watch.stop();
      }
    },
    get(namespace, name) {
      const secret = scopeFor(namespace)?.watch.get(name, namespace);
      return secret === undefined ? undefined : toSecretObject(secret);
    },
    list() {
      return scopes.flatMap((s) => s.watch.list().map(toSecretObject));
    },
    hasSynced() {
      return scopes.every((s) => s.synced);
    },
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
