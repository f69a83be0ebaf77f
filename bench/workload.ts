// The bench's objects: namespaces × 20 annotated pull secrets (10 identities, 1 registry): 2,500
// namespaces (50,000 Secrets, issue 16's goals) or 250 (5,000, the quicker set of earlier runs); the
// 20,000 unrelated 8 KiB Secrets (half Opaque, half dockerconfigjson without the annotation); and 100
// not-yet-annotated probe Secrets for the latency figure. Created with bounded concurrency.
import { createHash, randomBytes } from 'node:crypto';
import { ANNOTATIONS } from '../src/annotations.ts';
import { MERGE_PATCH, type KubeHttp } from './kube-http.ts';
import { forEachConcurrent } from './pool.ts';

export const SET_LABEL = 'bench.kube-regcred.io/set';
/** The bench's own watch sees these two sets, never the unrelated Secrets. */
export const WATCHED_SELECTOR = `${SET_LABEL} in (managed,probe)`;
export const MANAGED_SELECTOR = `${SET_LABEL}=managed`;

export interface WorkloadShape {
  namespaces: number;
  secretsPerNamespace: number;
  identities: number;
  unrelated: number;
  unrelatedBytes: number;
  probes: number;
}

/** The 5,000 set: `npm run bench -- controller-5k`, and the hostile bench's base. */
export const FULL_WORKLOAD: WorkloadShape = {
  namespaces: 250,
  secretsPerNamespace: 20,
  identities: 10,
  unrelated: 20_000,
  unrelatedBytes: 8 * 1024,
  probes: 100,
};

/** Issue 16's goals: 50,000 managed Secrets in 2,500 namespaces, beside the same 20,000 unrelated. */
export const GOAL_WORKLOAD: WorkloadShape = { ...FULL_WORKLOAD, namespaces: 2_500 };

export interface SecretRef {
  namespace: string;
  name: string;
}

export interface Workload {
  shape: WorkloadShape;
  namespaces: string[];
  identities: string[];
  /** Names of the annotated Secrets (the same in every namespace): what the extra ClusterRole grants. */
  managedNames: string[];
  managed: Array<SecretRef & { identity: string }>;
  /** Named `pull-secret`: covered by the base grant. */
  probes: Array<SecretRef & { identity: string }>;
}

/** Chainguard-style identity UIDs (`<group hex>/<identity hex>`), deterministic. */
function identityUid(index: number): string {
  const group = createHash('sha1').update('kube-regcred-bench').digest('hex');
  const id = createHash('sha1').update(`identity-${index}`).digest('hex').slice(0, 16);
  return `${group}/${id}`;
}

export function planWorkload(shape: WorkloadShape): Workload {
  const width = Math.max(3, String(shape.namespaces - 1).length);
  const namespaces = Array.from({ length: shape.namespaces }, (_, i) => `bench-${String(i).padStart(width, '0')}`);
  const identities = Array.from({ length: shape.identities }, (_, i) => identityUid(i));
  const managedNames = Array.from({ length: shape.secretsPerNamespace }, (_, i) => `pull-secret-${String(i + 1).padStart(2, '0')}`);
  const managed: Workload['managed'] = [];
  let n = 0;
  for (const namespace of namespaces) {
    for (const name of managedNames) managed.push({ namespace, name, identity: identities[n++ % identities.length]! });
  }
  const probes = Array.from({ length: shape.probes }, (_, i) => ({
    namespace: namespaces[i % namespaces.length]!,
    name: 'pull-secret',
    identity: identities[i % identities.length]!,
  }));
  return { shape, namespaces, identities, managedNames, managed, probes };
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function pullSecret(ref: SecretRef, set: 'managed' | 'probe', annotations: Record<string, string>): object {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: ref.name, namespace: ref.namespace, labels: { [SET_LABEL]: set }, annotations },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': b64('{}') },
  };
}

/** A `.dockerconfigjson` of exactly `bytes` bytes, for a registry nobody manages. */
function unrelatedDockerConfig(index: number, bytes: number): string {
  const head = `{"auths":{"unrelated-${index}.example":{"auth":"`;
  const tail = '"}}}';
  const pad = randomBytes(bytes).toString('base64').slice(0, Math.max(0, bytes - head.length - tail.length));
  return head + pad + tail;
}

export async function createNamespaces(admin: KubeHttp, workload: Workload, concurrency: number): Promise<void> {
  await forEachConcurrent(workload.namespaces, concurrency, async (name) => {
    await admin.ok('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  });
}

/** `only`: a slice of `workload.managed` (the bench's first memory point holds part of them). */
export async function createManagedSecrets(admin: KubeHttp, workload: Workload, concurrency: number, only: Workload['managed'] = workload.managed): Promise<void> {
  await forEachConcurrent(only, concurrency, async (s) => {
    await admin.ok('POST', `/api/v1/namespaces/${s.namespace}/secrets`, pullSecret(s, 'managed', { [ANNOTATIONS.identity]: s.identity }));
  });
}

/** The probes start without the identity annotation: the latency figure adds it, one at a time. */
export async function createProbeSecrets(admin: KubeHttp, workload: Workload, concurrency: number): Promise<void> {
  await forEachConcurrent(workload.probes, concurrency, async (s) => {
    await admin.ok('POST', `/api/v1/namespaces/${s.namespace}/secrets`, pullSecret(s, 'probe', {}));
  });
}

export async function createUnrelatedSecrets(admin: KubeHttp, workload: Workload, concurrency: number): Promise<void> {
  const { unrelated, unrelatedBytes } = workload.shape;
  const indexes = Array.from({ length: unrelated }, (_, i) => i);
  await forEachConcurrent(indexes, concurrency, async (i) => {
    const namespace = workload.namespaces[i % workload.namespaces.length]!;
    const opaque = i % 2 === 0;
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `unrelated-${opaque ? 'opaque' : 'dockercfg'}-${String(i).padStart(5, '0')}`, namespace, labels: { [SET_LABEL]: 'unrelated' } },
      type: opaque ? 'Opaque' : 'kubernetes.io/dockerconfigjson',
      data: opaque
        ? { blob: randomBytes(unrelatedBytes).toString('base64') }
        : { '.dockerconfigjson': b64(unrelatedDockerConfig(i, unrelatedBytes)) },
    };
    await admin.ok('POST', `/api/v1/namespaces/${namespace}/secrets`, body);
  });
}

/** Back to a cold start: `{}` and no status annotations (merge patch, no precondition). */
export async function resetManagedSecrets(admin: KubeHttp, workload: Workload, concurrency: number, only: readonly SecretRef[] = workload.managed): Promise<void> {
  const body = {
    metadata: { annotations: { [ANNOTATIONS.expiresAt]: null, [ANNOTATIONS.refreshedAt]: null, [ANNOTATIONS.lastError]: null } },
    data: { '.dockerconfigjson': b64('{}') },
  };
  await forEachConcurrent(only, concurrency, async (s) => {
    await admin.ok('PATCH', `/api/v1/namespaces/${s.namespace}/secrets/${s.name}`, body, MERGE_PATCH);
  });
}
