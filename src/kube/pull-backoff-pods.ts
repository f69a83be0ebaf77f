// Pods that cannot pull their images (ErrImagePull / ImagePullBackOff), for explaining the attach-to race:
// a Pod admitted before its ServiceAccount listed the pull secret never gets it. A ListWatch of Pending
// Pods (server-side field selector) that keeps only the stuck ones, reduced to what the check needs.
import { ListWatch, type V1Pod, type V1PodList, type Watch } from '@kubernetes/client-node';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { classifyKubeError } from './errors.ts';
import type { KubeClients } from './kube-config.ts';

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
  clients: KubeClients;
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
  const { clients, logger, random } = options;
  let stopped = true;
  // Only stuck Pods reach the cache (others become deletions, a no-op when not cached): Pending Pods of a
  // busy cluster are not held in memory for this.
  const watchClient = {
    watch: (path, params, callback, done) =>
      clients.watch.watch(path, params, (phase, object, raw) => {
        if ((phase === 'ADDED' || phase === 'MODIFIED') && !isPullStuck(object as V1Pod)) return callback('DELETED', object, raw);
        return callback(phase, object, raw);
      }, done),
  } as Watch;

  const scopes = (options.namespaces.length === 0 ? [undefined] : options.namespaces).map((namespace) => {
    const path = namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
    const listFn = async (): Promise<V1PodList> => {
      const list = namespace === undefined
        ? await clients.core.listPodForAllNamespaces({ fieldSelector: PENDING })
        : await clients.core.listNamespacedPod({ namespace, fieldSelector: PENDING });
      return { ...list, items: list.items.filter(isPullStuck) };
    };
    const watch = new ListWatch<V1Pod>(path, watchClient, listFn, false, undefined, PENDING);
    let failures = 0;
    let timer: NodeJS.Timeout | undefined;
    const report = (pod: V1Pod) => {
      failures = 0;
      options.onStuck(toStuckPod(pod));
    };
    watch.on('add', report);
    watch.on('update', report);
    watch.on('error', (err: unknown) => {
      if (stopped) return;
      const error = classifyKubeError(err, `watch Pods in ${namespace ?? 'all namespaces'}`);
      options.onError?.(error);
      const delay = Math.min(60_000, 1000 * 2 ** failures) * (0.5 + random() / 2);
      failures++;
      logger.warn({ namespace: namespace ?? '*', code: error.code, restartInMs: Math.round(delay) }, 'pod watch stopped; restarting');
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (!stopped) void watch.start().catch(() => undefined);
      }, delay);
    });
    return { watch, stopTimer: () => clearTimeout(timer) };
  });

  return {
    async start() {
      stopped = false;
      await Promise.all(scopes.map((s) => s.watch.start().catch(() => undefined)));
    },
    async stop() {
      stopped = true;
      for (const scope of scopes) {
        scope.stopTimer();
        await scope.watch.stop();
      }
    },
  };
}
