// Pods on the test node, and what the kubelet says about them: the proof that a pull secret (or the
// credential provider) works is a Pod whose image the kubelet pulled, not a client that imitates it.
import { readFileSync } from 'node:fs';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { pauseBinary } from './binaries.ts';
import { containerPids } from './container-process.ts';
import type { ControlPlane } from './control-plane.ts';
import type { TestNode } from './node.ts';
import { buildImage } from './oci-image.ts';

/** An OCI layout (tag `latest`) whose entrypoint runs until SIGTERM, so a Pod of it becomes Running. */
export function buildRunnableImage(dir: string, marker = 'kube-regcred workload'): string {
  return buildImage(dir, {
    files: [
      { name: 'pause', content: readFileSync(pauseBinary()), mode: 0o755 },
      { name: 'marker.txt', content: Buffer.from(`${marker}\n`) },
    ],
    entrypoint: ['/pause'],
  });
}

export interface PodOptions {
  namespace: string;
  name: string;
  image: string;
  serviceAccountName?: string;
  imagePullSecrets?: string[];
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

/** Creates the Pod bound to the node: nodeName set (no scheduler), host network (no CNI), no token volume. */
export async function createPod(cp: ControlPlane, node: TestNode, options: PodOptions): Promise<void> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  await core.createNamespacedPod({
    namespace: options.namespace,
    body: {
      metadata: { name: options.name, namespace: options.namespace },
      spec: {
        nodeName: node.name,
        hostNetwork: true,
        // No kube-controller-manager publishes kube-root-ca.crt, which the token volume would need.
        automountServiceAccountToken: false,
        serviceAccountName: options.serviceAccountName,
        imagePullSecrets: options.imagePullSecrets?.map((name) => ({ name })),
        terminationGracePeriodSeconds: 0,
        restartPolicy: 'Always',
        containers: [{ name: 'main', image: options.image, imagePullPolicy: options.imagePullPolicy ?? 'Always' }],
      },
    },
  });
}

export interface PodEvent {
  reason: string;
  message: string;
  /** How often it happened: the kubelet folds repeats into one Event. */
  count: number;
}

export interface PodOutcome {
  phase: string;
  /** Why the container waits, when it does (ErrImagePull, ImagePullBackOff, ...). */
  waitingReason?: string;
  events: PodEvent[];
}

export async function podEvents(cp: ControlPlane, namespace: string, name: string): Promise<PodEvent[]> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${name}` });
  return list.items
    .sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')))
    .map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', count: e.count ?? 1 }));
}

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff']);

function outcomeOf(pod: V1Pod): Omit<PodOutcome, 'events'> {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
  return { phase: pod.status?.phase ?? 'Unknown', ...(waiting ? { waitingReason: waiting } : {}) };
}

/**
 * Waits until the Pod runs, or until its image pull failed, and returns its state with its Events. A Pod
 * that ends up the other way fails the wait, with what the kubelet said about it.
 */
export async function waitForPod(
  cp: ControlPlane,
  namespace: string,
  name: string,
  until: 'Running' | 'PullFailed',
  timeoutMs = 60_000,
): Promise<PodOutcome> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  let last: Omit<PodOutcome, 'events'> = { phase: 'Unknown' };
  for (;;) {
    last = outcomeOf(await core.readNamespacedPod({ namespace, name }));
    const running = last.phase === 'Running';
    const pullFailed = last.waitingReason !== undefined && PULL_FAILURES.has(last.waitingReason);
    if ((until === 'Running' && running) || (until === 'PullFailed' && pullFailed)) {
      return { ...last, events: await podEvents(cp, namespace, name) };
    }
    if ((until === 'Running' && pullFailed) || (until === 'PullFailed' && running) || Date.now() > deadline) {
      const events = await podEvents(cp, namespace, name);
      const story = events.map((e) => `  ${e.reason}: ${e.message}`).join('\n');
      throw new Error(`Pod ${namespace}/${name}: expected ${until}, got phase ${last.phase}${last.waitingReason ? ` (${last.waitingReason})` : ''}\n${story}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function deletePod(cp: ControlPlane, namespace: string, name: string): Promise<void> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  await core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch((err: { code?: number }) => {
    if (err.code !== 404) throw err;
  });
}

/**
 * Stops the Pod's container process from the host (SIGTERM; the workload exits 0) so that the kubelet
 * starts it again, pulling first when the policy is Always. Resolves with the restart count before.
 */
export async function restartContainer(cp: ControlPlane, namespace: string, name: string): Promise<number> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const status = (await core.readNamespacedPod({ namespace, name })).status?.containerStatuses?.[0];
  const id = status?.containerID?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`Pod ${namespace}/${name} has no running container to restart`);
  const pids = containerPids(id);
  if (pids.length === 0) throw new Error(`no process of container ${id} found`);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  return status?.restartCount ?? 0;
}
