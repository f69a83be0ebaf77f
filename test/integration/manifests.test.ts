// Every shipped overlay builds with kustomize and is accepted by a real kube-apiserver (server-side
// dry run, so admission and schema validation run; --force-conflicts because the e2e may already have
// applied the default overlay for real on the shared control plane); RBAC grants stay as narrow as documented.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ApiException, CoreV1Api } from '@kubernetes/client-node';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';

const run = promisify(execFile);
const overlaysDir = join(import.meta.dirname, '..', '..', 'manifests', 'overlays');
const overlays = readdirSync(overlaysDir).sort();

interface KubeObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: { resources?: string[]; verbs?: string[]; resourceNames?: string[] }[];
  spec?: Record<string, unknown>;
}

async function build(overlay: string): Promise<KubeObject[]> {
  const { stdout } = await run('kubectl', ['kustomize', join(overlaysDir, overlay)]);
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as KubeObject);
}

async function ensureNamespace(cp: ControlPlane, name: string): Promise<void> {
  try {
    await cp.kubeConfig('admin').makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
}

describe('manifests', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await useControlPlane();
    // A dry run creates nothing, so the namespaces the objects live in must exist already.
    for (const ns of ['kube-regcred', 'team-a', 'team-b', 'pull-secret-updater']) await ensureNamespace(cp, ns);
  });

  it('ships the overlays the README documents', () => {
    for (const expected of ['default', 'ha', 'ha-sts', 'namespaced', 'proxy', 'sts', 'chainguard-compat', 'attach-to']) {
      assert.ok(overlays.includes(expected), `manifests/overlays/${expected} is missing (have: ${overlays.join(', ')})`);
    }
  });

  for (const overlay of overlays) {
    it(`${overlay}: kubectl apply --server-side --dry-run=server -k is accepted`, async () => {
      const kubeconfig = cp.writeKubeconfig('admin');
      const { stdout } = await run('kubectl', [
        '--kubeconfig', kubeconfig, 'apply', '--server-side', '--force-conflicts', '--dry-run=server', '--field-manager=kube-regcred-test',
        '-k', join(overlaysDir, overlay),
      ]);
      const objects = await build(overlay);
      const applied = stdout.trim().split('\n').filter((line) => line.includes('(server dry run)'));
      assert.equal(applied.length, objects.length, `every object of ${overlay} should be dry-run applied:\n${stdout}`);
    });

    it(`${overlay}: never grants secret writes without resourceNames, nor tokens of another ServiceAccount`, async () => {
      const objects = await build(overlay);
      // Its own ServiceAccount: kube-regcred, or pull-secret-updater's `controller` in chainguard-compat.
      const own = (objects.find((o) => o.kind === 'Deployment')?.spec as { template?: { spec?: { serviceAccountName?: string } } } | undefined)?.template?.spec?.serviceAccountName;
      for (const object of objects) {
        for (const rule of object.rules ?? []) {
          const writes = (rule.verbs ?? []).some((verb) => ['update', 'patch', 'create', 'delete', '*'].includes(verb));
          if ((rule.resources ?? []).includes('secrets') && writes) {
            assert.ok(rule.resourceNames?.length, `${object.kind} ${object.metadata.name} writes secrets without resourceNames`);
          }
          if ((rule.resources ?? []).includes('serviceaccounts/token')) {
            assert.deepEqual(rule.resourceNames, [own ?? 'kube-regcred'], `${object.kind} ${object.metadata.name} may mint other tokens`);
          }
          const verbs = rule.verbs ?? [];
          if ((rule.resources ?? []).includes('leases')) {
            // create cannot be limited by name; everything else touches the controller's own Lease only.
            if (verbs.some((verb) => verb !== 'create')) {
              assert.deepEqual(rule.resourceNames, ['kube-regcred-controller'], `${object.kind} ${object.metadata.name} may touch other Leases`);
            } else {
              assert.equal(rule.resourceNames, undefined, 'a create rule with resourceNames never matches');
            }
          }
          if ((rule.resources ?? []).includes('serviceaccounts')) {
            const extra = verbs.filter((verb) => !['get', 'list', 'watch', 'patch'].includes(verb));
            assert.deepEqual(extra, [], `${object.kind} ${object.metadata.name} may do more to ServiceAccounts than read and patch them`);
          }
          if ((rule.resources ?? []).includes('pods')) {
            const extra = verbs.filter((verb) => !['list', 'watch'].includes(verb));
            assert.deepEqual(extra, [], `${object.kind} ${object.metadata.name} may do more to Pods than watch them`);
          }
        }
      }
    });
  }

  it('default: the Deployment runs non-root, read-only, without privileges, with probes and limits', async () => {
    const deployment = (await build('default')).find((o) => o.kind === 'Deployment');
    assert.ok(deployment, 'no Deployment in the default overlay');
    const pod = (deployment.spec as { template: { spec: Record<string, any> } }).template.spec;
    const container = pod.containers[0];
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    assert.ok(container.resources.limits.memory && container.resources.requests.cpu);
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  });

  it('ha: two replicas, leader election on, and a PodDisruptionBudget', async () => {
    const objects = await build('ha');
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const spec = deployment.spec as { replicas: number; template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    assert.equal(spec.replicas, 2);
    const env = spec.template.spec.containers[0]!.env;
    assert.equal(env.find((e) => e.name === 'KUBE_REGCRED_LEADER_ELECT')?.value, 'true');
    assert.ok(objects.some((o) => o.kind === 'PodDisruptionBudget'), 'ha overlay has no PodDisruptionBudget');
  });

  it('sts: no anonymous discovery binding, metrics on their own Service, the sts as its own ServiceAccount', async () => {
    const objects = await build('sts');
    for (const binding of objects.filter((o) => o.kind.endsWith('RoleBinding'))) {
      const subjects = (binding as unknown as { subjects: { kind: string; name: string }[] }).subjects;
      assert.ok(!subjects.some((s) => s.name === 'system:unauthenticated'), `${binding.metadata.name} binds system:unauthenticated`);
    }
    const services = objects.filter((o) => o.kind === 'Service' && o.metadata.name.startsWith('kube-regcred-sts'));
    const ports = (name: string) => ((services.find((s) => s.metadata.name === name)?.spec as { ports: { name: string }[] } | undefined)?.ports ?? []).map((p) => p.name);
    assert.deepEqual(ports('kube-regcred-sts'), ['http'], 'the Service an Ingress routes to carries the token port only');
    assert.deepEqual(ports('kube-regcred-sts-metrics'), ['http-metrics']);
    const sts = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'kube-regcred-sts')!;
    const pod = (sts.spec as { template: { spec: Record<string, any> } }).template.spec;
    assert.equal(pod.serviceAccountName, 'kube-regcred-sts');
    assert.ok(objects.some((o) => o.kind === 'ClusterRole' && o.rules?.some((r) => r.resources?.includes('tokenreviews') && r.verbs?.join() === 'create')));
  });

  it('ha-sts: both Deployments spread over nodes, each with a PodDisruptionBudget', async () => {
    const objects = await build('ha-sts');
    for (const name of ['kube-regcred', 'kube-regcred-sts']) {
      const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name)!;
      const affinity = (deployment.spec as any).template.spec.affinity?.podAntiAffinity;
      assert.ok(affinity, `${name} has no pod anti-affinity`);
      assert.ok(objects.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === name), `${name} has no PodDisruptionBudget`);
    }
  });

  it('attach-to: ServiceAccounts read and patch, Pods list/watch, and the ImagePullBackOff explanation on', async () => {
    const objects = await build('attach-to');
    const rules = objects.filter((o) => o.kind === 'ClusterRole').flatMap((o) => o.rules ?? []);
    assert.ok(rules.some((r) => r.resources?.includes('serviceaccounts') && r.verbs?.includes('patch')), 'no patch on serviceaccounts');
    assert.ok(rules.some((r) => r.resources?.includes('pods') && r.verbs?.includes('watch')), 'no watch on pods');
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const env = (deployment.spec as any).template.spec.containers[0].env as { name: string; value?: string }[];
    assert.equal(env.find((e) => e.name === 'KUBE_REGCRED_EXPLAIN_PULL_BACKOFF')?.value, 'true');
  });

  it('namespaced: a Role in each listed namespace, the flag naming them, and cluster-wide only the read of those Namespaces by name', async () => {
    const objects = await build('namespaced');
    const roleNamespaces = objects.filter((o) => o.kind === 'Role' && o.metadata.namespace !== 'kube-regcred').map((o) => o.metadata.namespace);
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const env = (deployment.spec as any).template.spec.containers[0].env as { name: string; value?: string }[];
    const watched = env.find((e) => e.name === 'KUBE_REGCRED_NAMESPACES')?.value?.split(',') ?? [];
    assert.deepEqual(roleNamespaces.sort(), watched.sort(), 'each watched namespace needs its Role, and only those');
    const clusterRoles = objects.filter((o) => o.kind === 'ClusterRole');
    assert.deepEqual(clusterRoles.map((o) => o.metadata.name), ['kube-regcred:read-served-namespaces'], 'the only cluster-wide role');
    assert.deepEqual(
      clusterRoles[0]!.rules,
      [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'], resourceNames: [...watched].sort() }],
      'read-only, and only the watched Namespaces, by name',
    );
    const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding') as Array<KubeObject & { roleRef?: { name?: string } }>;
    assert.deepEqual(bindings.map((b) => b.roleRef?.name), ['kube-regcred:read-served-namespaces'], 'no other cluster-wide binding');
  });
});
