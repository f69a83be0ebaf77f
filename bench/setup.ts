// The bench's test bed: its own control plane, the controller's ServiceAccount with the RBAC of
// manifests/base (read from the files, so the bench runs under what ships) plus a ClusterRole granting
// the bench's Secret names (as the secret-names component does), and the counting test STS.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../test/support/control-plane.ts';
import { startTestSts, type TestSts } from '../test/support/test-sts.ts';
import type { KubeHttp } from './kube-http.ts';

export const STS_AUDIENCE = 'sts.bench.kube-regcred.test';
export const REGISTRY = 'registry.bench.kube-regcred.test';

export interface ControllerIdentity {
  namespace: string;
  serviceAccount: string;
  /** Kubeconfig file with a token of the controller's ServiceAccount (never admin). */
  kubeconfig: string;
  /** That token, for the baseline client (same authorization path as the controller). */
  token: string;
}

interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

/** Collection path of the kinds manifests/base holds that matter here (the Deployment and Service do not: no kubelet). */
function collectionPath(object: ManifestObject, namespace: string): string | undefined {
  switch (object.kind) {
    case 'Namespace':
      return '/api/v1/namespaces';
    case 'ServiceAccount':
      return `/api/v1/namespaces/${namespace}/serviceaccounts`;
    case 'ClusterRole':
      return '/apis/rbac.authorization.k8s.io/v1/clusterroles';
    case 'ClusterRoleBinding':
      return '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings';
    case 'Role':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`;
    case 'RoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`;
    default:
      return undefined;
  }
}

function readManifests(file: string): ManifestObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((doc) => doc.toJSON() as ManifestObject | null)
    .filter((o): o is ManifestObject => o !== null);
}

/**
 * Applies manifests/base's Namespace, ServiceAccount and RBAC as shipped, then the secret-names
 * component's ClusterRole with `writableNames` as its resourceNames, and returns a kubeconfig for the
 * ServiceAccount.
 */
export async function createControllerIdentity(
  root: string,
  cp: ControlPlane,
  admin: KubeHttp,
  writableNames: readonly string[],
  /** Where the kubeconfig (it holds the token) is written: a directory the bench removes at exit. */
  privateDir: string,
): Promise<ControllerIdentity> {
  const base = join(root, 'manifests', 'base');
  const kustomization = readManifests(join(base, 'kustomization.yaml'))[0] as unknown as { namespace: string; resources: string[] };
  const namespace = kustomization.namespace;
  const objects = kustomization.resources.flatMap((file) => readManifests(join(base, file)));
  const extra = readManifests(join(root, 'manifests', 'components', 'secret-names', 'write-more-secret-names.yaml'));
  for (const object of extra) {
    if (object.kind === 'ClusterRole') {
      const rules = object['rules'] as Array<{ resourceNames?: string[] }>;
      for (const rule of rules) rule.resourceNames = [...writableNames];
    }
  }
  for (const object of [...objects, ...extra]) {
    const path = collectionPath(object, namespace);
    if (!path) continue;
    if (path.includes('/namespaces/')) object.metadata.namespace = namespace;
    await admin.ok('POST', path, object);
  }
  const serviceAccount = (objects.find((o) => o.kind === 'ServiceAccount')?.metadata.name) ?? 'kube-regcred';
  // The controller's credential towards the apiserver (what a projected volume gives a Pod).
  const issued = await admin.ok<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 4 * 3600 } },
  );
  const token = issued.status.token;
  const kubeconfig = cp.writeKubeconfig({ token, name: `system:serviceaccount:${namespace}:${serviceAccount}` }, join(privateDir, 'kubeconfig'));
  return { namespace, serviceAccount, kubeconfig, token };
}

export function startBenchSts(cp: ControlPlane, identities: readonly string[], tokenLifetimeSeconds: number): Promise<TestSts> {
  return startTestSts({
    jwksUrl: `${cp.issuer}/openid/v1/jwks`,
    caPem: cp.caPem,
    expectedAudience: STS_AUDIENCE,
    expectedIssuer: cp.issuer,
    tokenLifetimeSeconds,
    identities: [...identities],
  });
}
