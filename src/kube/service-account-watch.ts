// A watch of ServiceAccounts (names and imagePullSecrets names only), for attach-to: when someone
// removes an entry the controller added, the Secret is reconciled and the entry put back at once
// rather than at the Secret's next refresh. Started only once a Secret uses attach-to (it needs
// list/watch on serviceaccounts: manifests/components/attach-to).
import type { V1ServiceAccount } from '@kubernetes/client-node';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { KubeApi } from './api-client.ts';
import { coreCollectionPath, createListWatch, type ListWatchCache } from './list-watch.ts';

export interface ServiceAccountPullSecrets {
  readonly namespace: string;
  readonly name: string;
  readonly pullSecrets: readonly string[];
}

export interface ServiceAccountWatchOptions {
  api: KubeApi;
  /** Namespaces to watch; empty means cluster-wide. */
  namespaces: readonly string[];
  logger: Logger;
  random: Random;
  /** A ServiceAccount appeared or its imagePullSecrets changed. */
  onChange: (serviceAccount: ServiceAccountPullSecrets) => void;
  onError?: (error: RegcredError) => void;
}

export interface ServiceAccountWatch {
  /** Idempotent; resolves when the first list of each scope has settled. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createServiceAccountWatch(options: ServiceAccountWatchOptions): ServiceAccountWatch {
  const makeScope = (namespace: string | undefined): ListWatchCache<ServiceAccountPullSecrets> =>
    createListWatch<ServiceAccountPullSecrets>({
      api: options.api,
      path: coreCollectionPath('serviceaccounts', namespace),
      transform: (raw) => {
        const sa = raw as V1ServiceAccount;
        const pullSecrets = (sa.imagePullSecrets ?? []).map((ref) => ref.name ?? '').filter((n) => n !== '');
        return Object.freeze({ namespace: sa.metadata?.namespace ?? '', name: sa.metadata?.name ?? '', pullSecrets: Object.freeze(pullSecrets) });
      },
      onEvent: (type, sa, previous) => {
        if (type === 'deleted') return;
        if (type === 'updated' && previous !== undefined && previous.pullSecrets.join('\n') === sa.pullSecrets.join('\n')) return;
        options.onChange(sa);
      },
      onError: options.onError,
      description: `ServiceAccounts in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}`,
      logger: options.logger,
      random: options.random,
    });
  const scopes = options.namespaces.length === 0 ? [makeScope(undefined)] : options.namespaces.map(makeScope);
  let started: Promise<void> | undefined;
  return {
    start() {
      started ??= Promise.all(scopes.map((s) => s.start())).then(() => undefined);
      return started;
    },
    async stop() {
      if (started === undefined) return;
      await Promise.all(scopes.map((s) => s.stop()));
    },
  };
}
