// A read-only cache of Namespace labels (for the identity policy's namespace selectors), kept by a
// client-node ListWatch that is restarted with backoff after any error, like the Secret informer.
// Only the name and labels are handed out; a label change is reported so Secrets can be re-evaluated.
import { ListWatch, type V1Namespace, type V1NamespaceList } from '@kubernetes/client-node';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { classifyKubeError } from './errors.ts';
import type { KubeClients } from './kube-config.ts';

export interface NamespaceInformer {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The namespace's labels, or undefined when it is not in the cache. Frozen copy. */
  labels(name: string): Readonly<Record<string, string>> | undefined;
  hasSynced(): boolean;
  /** Called when a namespace appears, disappears, or its labels change. */
  onChange(handler: (name: string) => void): void;
}

export interface NamespaceInformerOptions {
  clients: KubeClients;
  logger: Logger;
  random: Random;
  onError?: (error: RegcredError) => void;
  restartBaseMs?: number;
  restartMaxMs?: number;
}

function labelsKey(ns: V1Namespace): string {
  return JSON.stringify(Object.entries(ns.metadata?.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function createNamespaceInformer(options: NamespaceInformerOptions): NamespaceInformer {
  const { clients, logger, random } = options;
  const baseMs = options.restartBaseMs ?? 1000;
  const maxMs = options.restartMaxMs ?? 60_000;
  const handlers: ((name: string) => void)[] = [];
  /** Labels last reported per namespace, to tell a label change from any other update. */
  const seen = new Map<string, string>();
  let stopped = true;
  let synced = false;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;

  const notify = (ns: V1Namespace, deleted: boolean) => {
    const name = ns.metadata?.name;
    if (!name) return;
    const key = deleted ? undefined : labelsKey(ns);
    if (seen.get(name) === key) return;
    if (key === undefined) seen.delete(name);
    else seen.set(name, key);
    for (const handler of handlers) handler(name);
  };

  const listFn = async (): Promise<V1NamespaceList> => {
    const list = await clients.core.listNamespace();
    setImmediate(() => {
      if (!synced) logger.info({ namespaces: list.items.length }, 'namespace cache synced');
      synced = true;
      failures = 0;
    });
    return list;
  };
  const watch = new ListWatch<V1Namespace>('/api/v1/namespaces', clients.watch, listFn, false);
  watch.on('add', (ns) => notify(ns, false));
  watch.on('update', (ns) => notify(ns, false));
  watch.on('delete', (ns) => notify(ns, true));
  watch.on('error', (err: unknown) => {
    if (stopped) return;
    const error = classifyKubeError(err, 'watch Namespaces');
    options.onError?.(error);
    const delay = Math.min(maxMs, baseMs * 2 ** failures) * (0.5 + random() / 2);
    failures++;
    logger.warn({ code: error.code, status: error.status, restartInMs: Math.round(delay) }, 'namespace watch stopped; restarting');
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (!stopped) void watch.start().catch(() => undefined);
    }, delay);
  });

  return {
    async start() {
      stopped = false;
      await watch.start().catch(() => undefined);
    },
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      await watch.stop();
    },
    labels(name) {
      const ns = watch.get(name);
      return ns === undefined ? undefined : Object.freeze({ ...(ns.metadata?.labels ?? {}) });
    },
    hasSynced: () => synced,
    onChange(handler) {
      handlers.push(handler);
    },
  };
}
