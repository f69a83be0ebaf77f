// Pods that cannot pull their images (ErrImagePull / ImagePullBackOff), for explaining the attach-to race:
// a Pod admitted before its ServiceAccount listed the pull secret never gets it. A list-watch of Pending
// Pods (server-side field selector) that keeps only the stuck ones, reduced to what the check needs.
import type { V1Pod } from '@kubernetes/client-node';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { KubeApi } from './api-client.ts';
import { coreCollectionPath, createListWatch } from './list-watch.ts';

const PULL_FAILURES = new Set(['ImagePullBackOff', 'ErrImagePull']);
const PENDING = 'status.phase=Pending';

/** What the explanation needs from a stuck Pod. */
export interface StuckPod {
  namespace: string;
  name: string;
  uid: string | undefined;
  serviceAccountName: string;
  imagePullSecrets: readonly string[];
}

export interface PullBackoffPodWatcher {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PullBackoffPodWatcherOptions {
  api: KubeApi;
  /** Namespaces to watch; empty: all. */
  namespaces: readonly string[];
  logger: Logger;
  random: Random;
  /** Called for each stuck Pod as it is seen stuck (again on each status change). */
  onStuck: (pod: StuckPod) => void;
  onError?: (error: RegcredError) => void;
}

export function isPullStuck(pod: V1Pod): boolean {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return statuses.some((s) => PULL_FAILURES.has(s.state?.waiting?.reason ?? ''));
}

export function toStuckPod(pod: V1Pod): StuckPod {
  return {
    namespace: pod.metadata?.namespace ?? '',
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid,
    serviceAccountName: pod.spec?.serviceAccountName || 'default',
    imagePullSecrets: (pod.spec?.imagePullSecrets ?? []).map((ref) => ref.name ?? ''),
  };
}

export function createPullBackoffPodWatcher(options: PullBackoffPodWatcherOptions): PullBackoffPodWatcher {
  const scopes = (options.namespaces.length === 0 ? [undefined] : options.namespaces).map((namespace) =>
    createListWatch<StuckPod>({
      api: options.api,
      path: coreCollectionPath('pods', namespace),
      fieldSelector: PENDING,
      // Only stuck Pods are kept, reduced to what the check needs: the Pending Pods of a busy cluster
      // are not held in memory for this.
      transform: (raw) => (isPullStuck(raw as V1Pod) ? toStuckPod(raw as V1Pod) : undefined),
      onEvent: (type, pod) => {
        if (type !== 'deleted') options.onStuck(pod);
      },
      onError: options.onError,
      description: `Pods in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}`,
      logger: options.logger,
      random: options.random,
    }),
  );
  return {
    async start() {
      await Promise.all(scopes.map((s) => s.start()));
    },
    async stop() {
      await Promise.all(scopes.map((s) => s.stop()));
    },
  };
}
