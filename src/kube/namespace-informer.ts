// A read-only cache of Namespace labels (for the identity policy's namespace selectors), kept by
// list-watch.ts like the Secret informer. Only names and labels are held; a label change is reported
// so Secrets can be re-evaluated. A controller that serves listed namespaces reads only those: one
// list-watch per name with fieldSelector metadata.name=<name>, which RBAC authorizes as a request for
// that one Namespace (a ClusterRole rule with resourceNames), so no cluster-wide Namespace read is needed.
import type { V1Namespace } from '@kubernetes/client-node';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { KubeApi } from './api-client.ts';
import { createListWatch, type ListWatchCache } from './list-watch.ts';

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
  /** Read only these Namespaces (a namespaced controller); empty or absent: every Namespace. */
  names?: readonly string[];
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
  const makeScope = (name: string | undefined) =>
    createListWatch<CachedNamespace>({
      api: options.api,
      path: '/api/v1/namespaces',
      ...(name === undefined ? {} : { fieldSelector: `metadata.name=${name}` }),
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
        if (first) logger.info({ namespaces, scope: name ?? '*' }, 'namespace cache synced');
      },
      onError: options.onError,
      description: name === undefined ? 'Namespaces' : `Namespace ${name}`,
      logger,
      random: options.random,
      restartBaseMs: options.restartBaseMs,
      restartMaxMs: options.restartMaxMs,
    });
  const names = [...new Set(options.names ?? [])];
  const scopes = new Map<string | undefined, ListWatchCache<CachedNamespace>>(
    names.length === 0 ? [[undefined, makeScope(undefined)]] : names.map((name) => [name, makeScope(name)]),
  );
  const scopeFor = (name: string) => scopes.get(name) ?? scopes.get(undefined);

  return {
    async start() {
      await Promise.all([...scopes.values()].map((s) => s.start()));
    },
    async stop() {
      await Promise.all([...scopes.values()].map((s) => s.stop()));
    },
    labels: (name) => scopeFor(name)?.get(name)?.labels,
    hasSynced: () => [...scopes.values()].every((s) => s.hasSynced()),
    onChange(handler) {
      handlers.push(handler);
    },
  };
}
