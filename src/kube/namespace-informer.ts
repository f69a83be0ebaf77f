// A read-only cache of Namespace labels (for the identity policy's namespace selectors), kept by
// list-watch.ts like the Secret informer. Only names and labels are held; a label change is reported
// so Secrets can be re-evaluated.
import type { V1Namespace } from '@kubernetes/client-node';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { KubeApi } from './api-client.ts';
import { createListWatch } from './list-watch.ts';

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
  api: KubeApi;
  logger: Logger;
  random: Random;
  onError?: (error: RegcredError) => void;
  restartBaseMs?: number;
  restartMaxMs?: number;
}

interface CachedNamespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

function labelsKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function createNamespaceInformer(options: NamespaceInformerOptions): NamespaceInformer {
  const { logger } = options;
  const handlers: ((name: string) => void)[] = [];
  const notify = (name: string) => {
    for (const handler of handlers) handler(name);
  };
  const cache = createListWatch<CachedNamespace>({
    api: options.api,
    path: '/api/v1/namespaces',
    transform: (raw) => {
      const ns = raw as V1Namespace;
      return Object.freeze({ name: ns.metadata?.name ?? '', labels: Object.freeze({ ...(ns.metadata?.labels ?? {}) }) });
    },
    onEvent: (type, ns, previous) => {
      // Only a label change (or the namespace coming and going) can change a policy decision.
      if (type === 'updated' && previous !== undefined && labelsKey(ns.labels) === labelsKey(previous.labels)) return;
      notify(ns.name);
    },
    onListed: (namespaces, first) => {
      if (first) logger.info({ namespaces }, 'namespace cache synced');
    },
    onError: options.onError,
    description: 'Namespaces',
    logger,
    random: options.random,
    restartBaseMs: options.restartBaseMs,
    restartMaxMs: options.restartMaxMs,
  });

  return {
    start: () => cache.start(),
    stop: () => cache.stop(),
    labels: (name) => cache.get(name)?.labels,
    hasSynced: () => cache.hasSynced(),
    onChange(handler) {
      handlers.push(handler);
    },
  };
}
