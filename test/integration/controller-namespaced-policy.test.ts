// A namespaced controller with an identity policy, under the RBAC manifests/overlays/namespaced ships
// (built with kustomize, its team-a/team-b and kube-regcred namespaces and cluster-scoped names renamed
// to this test's own, its rules unchanged): it may not list Namespaces cluster-wide, only read the two
// it serves by name, and still applies a namespaceSelector policy, a label change included.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ApiException, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1ClusterRole, type V1ClusterRoleBinding, type V1Role, type V1RoleBinding } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import { Kube, SA_NAME, metricValue, startController, startSts, suffix, tokenOf, type ControllerIdentity, type TestController } from './controller-harness.ts';
import { scratchDir } from '../support/scratch.ts';

const run = promisify(execFile);
const overlay = join(import.meta.dirname, '..', '..', 'manifests', 'overlays', 'namespaced');
const LABEL = 'regcred-namespaced-test';
const IDENTITY = 'shared/puller';

type Rbac = (V1Role | V1RoleBinding | V1ClusterRole | V1ClusterRoleBinding) & { kind: string };

/** The overlay's RBAC objects with namespaces and cluster-scoped names mapped to the test's own. */
async function shippedRbac(rename: Record<string, string>, id: string): Promise<Rbac[]> {
  const { stdout } = await run('kubectl', ['kustomize', overlay]);
  const objects = parseAllDocuments(stdout).map((doc) => doc.toJS() as Rbac & { kind: string });
  const ns = (name: string | undefined) => (name === undefined ? undefined : (rename[name] ?? name));
  return objects
    .filter((o) => ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))
    .map((o) => {
      const copy = structuredClone(o) as Rbac;
      const meta = copy.metadata!;
      if (meta.namespace !== undefined) meta.namespace = ns(meta.namespace);
      else meta.name = `${meta.name}-${id}`;
      if ('rules' in copy) for (const rule of copy.rules ?? []) if (rule.resourceNames && rule.resources?.includes('namespaces')) rule.resourceNames = rule.resourceNames.map((n) => ns(n)!);
      if ('roleRef' in copy && copy.roleRef.kind === 'ClusterRole') copy.roleRef.name = `${copy.roleRef.name}-${id}`;
      if ('subjects' in copy) for (const subject of copy.subjects ?? []) subject.namespace = ns(subject.namespace);
      return copy;
    });
}

describe('controller: namespaced install with a namespace-label policy, under the shipped RBAC', () => {
  let cp: ControlPlane;
  let kube: Kube;
  let sts: TestSts;
  let controller: TestController;
  let dir: string;
  let identity: ControllerIdentity;
  const id = suffix();
  const own = `ns-ctl-${id}`;
  const teamA = `ns-team-a-${id}`;
  const teamB = `ns-team-b-${id}`;

  before(async () => {
    cp = await useControlPlane();
    kube = new Kube(cp);
    const rbac = cp.kubeConfig('admin').makeApiClient(RbacAuthorizationV1Api);
    for (const name of [own, teamA, teamB]) await kube.core.createNamespace({ body: { metadata: { name } } });
    await kube.core.patchNamespace({ name: teamA, body: [{ op: 'add', path: '/metadata/labels', value: { [LABEL]: 'allowed' } }] });
    await kube.core.createNamespacedServiceAccount({ namespace: own, body: { metadata: { name: SA_NAME } } });
    const objects = await shippedRbac({ 'kube-regcred': own, 'team-a': teamA, 'team-b': teamB }, id);
    assert.ok(objects.some((o) => o.kind === 'ClusterRole'), 'the overlay ships the Namespace read');
    for (const o of objects) {
      const namespace = o.metadata!.namespace!;
      if (o.kind === 'Role') await rbac.createNamespacedRole({ namespace, body: o as V1Role });
      else if (o.kind === 'RoleBinding') await rbac.createNamespacedRoleBinding({ namespace, body: o as V1RoleBinding });
      else if (o.kind === 'ClusterRole') await rbac.createClusterRole({ body: o as V1ClusterRole });
      else await rbac.createClusterRoleBinding({ body: o as V1ClusterRoleBinding });
    }
    const issued = await kube.core.createNamespacedServiceAccountToken({ name: SA_NAME, namespace: own, body: { spec: { expirationSeconds: 3600 } } });
    const token = issued.status!.token!;
    identity = { namespace: own, token, kubeconfig: cp.writeKubeconfig({ token, name: `system:serviceaccount:${own}:${SA_NAME}` }) };

    sts = await startSts(cp, 3600);
    dir = scratchDir('namespaced-policy-');
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `identities:\n  - uid: ${IDENTITY}\n    namespaceSelector:\n      matchLabels: { ${LABEL}: allowed }\n`);
    controller = await startController(identity, sts, [teamA, teamB], ['--no-leader-elect', '--identity-policy', policy]);
  });

  after(async () => {
    await controller?.stop();
    await sts?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('may not list Namespaces cluster-wide, only read its own two by name', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(identity.kubeconfig);
    const api = kc.makeApiClient(CoreV1Api);
    await assert.rejects(api.listNamespace(), (err: unknown) => err instanceof ApiException && err.code === 403, 'cluster-wide list is forbidden');
    await assert.rejects(api.listNamespace({ fieldSelector: `metadata.name=${own}` }), (err: unknown) => err instanceof ApiException && err.code === 403, 'another Namespace is forbidden');
    const listed = await api.listNamespace({ fieldSelector: `metadata.name=${teamA}` });
    assert.deepEqual(listed.items.map((n) => n.metadata?.name), [teamA]);
  });

  it('serves the labelled namespace, refuses the other, and follows a label change', async () => {
    await kube.createPullSecret(teamA, 'pull-secret', { 'kube-regcred.io/identity': IDENTITY });
    await kube.createPullSecret(teamB, 'pull-secret', { 'kube-regcred.io/identity': IDENTITY });
    await waitFor(async () => tokenOf(await kube.secret(teamA, 'pull-secret')), { description: `${teamA}/pull-secret filled` });
    await waitFor(async () => (await kube.secret(teamB, 'pull-secret'))?.metadata?.annotations?.['kube-regcred.io/last-error']?.startsWith('NamespaceNotAllowed:'), {
      description: `${teamB}/pull-secret refused by the policy`,
    });
    assert.equal(tokenOf(await kube.secret(teamB, 'pull-secret')), undefined);

    await kube.core.patchNamespace({ name: teamB, body: [{ op: 'add', path: '/metadata/labels', value: { [LABEL]: 'allowed' } }] });
    await waitFor(async () => tokenOf(await kube.secret(teamB, 'pull-secret')), { description: `${teamB}/pull-secret filled after its label` });
    assert.equal(metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'KubeForbidden' }), 0, 'no forbidden list or watch');
  });
});
