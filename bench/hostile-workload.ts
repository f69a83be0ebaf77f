// The hostile tenants of `npm run bench -- hostile` (issue 17, failure 3): annotated pull secrets whose
// Docker config is about 1 MiB (just under the apiserver's limit for a Secret's data), in namespaces
// of their own, named like the bench's pull secrets (so the shipped RBAC plus the bench's secret-names
// grant lets the controller write their status), and what the controller reported about them.
import { randomBytes } from 'node:crypto';
import { ANNOTATIONS } from '../src/annotations.ts';
import type { KubeHttp } from './kube-http.ts';
import { forEachConcurrent } from './pool.ts';
import { SET_LABEL, type SecretRef, type Workload } from './workload.ts';

export const HOSTILE_SELECTOR = `${SET_LABEL}=hostile`;
/** The Docker config's size: the apiserver refuses a Secret whose data passes 1 MiB (1,048,576 bytes). */
export const HOSTILE_BYTES = 1_000_000;
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

export interface HostilePlan {
  namespaces: string[];
  secrets: Array<SecretRef & { identity: string }>;
}

/** `count` hostile Secrets, 20 per namespace (the bench's names), annotated with the bench's identities. */
export function planHostile(workload: Workload, count: number): HostilePlan {
  const perNamespace = workload.managedNames.length;
  const namespaces = Array.from({ length: Math.ceil(count / perNamespace) }, (_, i) => `hostile-${String(i).padStart(3, '0')}`);
  const secrets = Array.from({ length: count }, (_, i) => ({
    namespace: namespaces[Math.floor(i / perNamespace)]!,
    name: workload.managedNames[i % perNamespace]!,
    identity: workload.identities[i % workload.identities.length]!,
  }));
  return { namespaces, secrets };
}

/** A valid `.dockerconfigjson` of `HOSTILE_BYTES` bytes for a registry nobody manages (random: nothing compresses it). */
function hostileDockerConfig(): string {
  const head = '{"auths":{"big.example":{"auth":"';
  const tail = '"}}}';
  return head + randomBytes(HOSTILE_BYTES).toString('base64').slice(0, HOSTILE_BYTES - head.length - tail.length) + tail;
}

export async function createHostileNamespaces(admin: KubeHttp, plan: HostilePlan): Promise<void> {
  for (const name of plan.namespaces) await admin.ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export async function createHostileSecrets(admin: KubeHttp, secrets: HostilePlan['secrets'], concurrency: number): Promise<void> {
  await forEachConcurrent(secrets, concurrency, async (s) => {
    await admin.ok('POST', `/api/v1/namespaces/${s.namespace}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: s.name, namespace: s.namespace, labels: { [SET_LABEL]: 'hostile' }, annotations: { [ANNOTATIONS.identity]: s.identity } },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': Buffer.from(hostileDockerConfig(), 'utf8').toString('base64') },
    });
  });
}

export interface HostileStatus {
  secrets: number;
  /** Hostile Secrets whose kube-regcred.io/last-error starts with `DockerConfigTooLarge:`. */
  lastErrorTooLarge: number;
  /** Hostile Secrets with any other last-error, or none. */
  otherOrNone: number;
  /** Warning Events with reason InvalidSecret on hostile Secrets: objects, distinct Secrets, sum of their counts. */
  events: number;
  eventSecrets: number;
  eventCount: number;
  /** Events whose message names DockerConfigTooLarge's cause (the cap in bytes). */
  eventsNamingCap: number;
}

/** Read with metadata only (the data of 1,000 such Secrets is a GiB) and the hostile namespaces' Events. */
export async function readHostileStatus(admin: KubeHttp, plan: HostilePlan): Promise<HostileStatus> {
  const text = await admin.text(`/api/v1/secrets?labelSelector=${encodeURIComponent(HOSTILE_SELECTOR)}`, METADATA_ONLY);
  const items = (JSON.parse(text) as { items: Array<{ metadata: { annotations?: Record<string, string> } }> }).items;
  const lastErrorTooLarge = items.filter((s) => s.metadata.annotations?.[ANNOTATIONS.lastError]?.startsWith('DockerConfigTooLarge:')).length;
  const status: HostileStatus = { secrets: items.length, lastErrorTooLarge, otherOrNone: items.length - lastErrorTooLarge, events: 0, eventSecrets: 0, eventCount: 0, eventsNamingCap: 0 };
  const names = new Set<string>();
  for (const namespace of plan.namespaces) {
    const events = await admin.ok<{ items: Array<{ type?: string; count?: number; message?: string; involvedObject: { name?: string; kind?: string } }> }>(
      'GET',
      `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent('reason=InvalidSecret')}`,
    );
    for (const e of events.items) {
      if (e.type !== 'Warning' || e.involvedObject.kind !== 'Secret') continue;
      status.events++;
      status.eventCount += e.count ?? 1;
      if (/more than the \d+ bytes/.test(e.message ?? '')) status.eventsNamingCap++;
      names.add(`${namespace}/${e.involvedObject.name}`);
    }
  }
  status.eventSecrets = names.size;
  return status;
}
