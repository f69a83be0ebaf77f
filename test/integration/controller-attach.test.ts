// attach-to on the real test bed: the pull secret is added to the named ServiceAccounts' imagePullSecrets
// without duplicates, put back after a removal, and attached to a ServiceAccount created later.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { SA_NAME, tokenOf, type TestController, useControllerBed } from './controller-harness.ts';

describe('controller: attach-to ServiceAccounts', () => {
  const bed = useControllerBed();
  let controller: TestController;
  let ns: string;
  const pullSecretsOf = async (name: string) =>
    ((await bed.kube.core.readNamespacedServiceAccount({ namespace: ns, name })).imagePullSecrets ?? []).map((ref) => ref.name);

  before(async () => {
    // What docs/controller.md tells users to grant for attach-to.
    const role = `kube-regcred-${bed.identity.namespace}:attach`;
    await bed.kube.rbac.createClusterRole({ body: { metadata: { name: role }, rules: [
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch', 'patch'] },
      // --explain-pull-backoff
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
    ] } });
    await bed.kube.rbac.createClusterRoleBinding({
      body: {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ kind: 'ServiceAccount', name: SA_NAME, namespace: bed.identity.namespace }],
      },
    });
    ns = await bed.kube.namespace('attach');
    await bed.kube.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'app' } } });
    // Already lists the Secret (and another one): must not get a second entry.
    await bed.kube.core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: 'default' }, imagePullSecrets: [{ name: 'other' }, { name: 'pull-secret' }] },
    });
    controller = await bed.startController([ns], ['--no-leader-elect', '--attach-retry', '500ms', '--explain-pull-backoff']);
  });

  it('adds the pull secret to each listed ServiceAccount, without duplicates', async () => {
    await bed.kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'attach/id', 'kube-regcred.io/attach-to': 'app, default,app,later' });
    await waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')), { description: 'pull-secret filled' });
    await waitFor(async () => (await pullSecretsOf('app')).includes('pull-secret'), { description: 'attached to app' });
    assert.deepEqual(await pullSecretsOf('app'), ['pull-secret']);
    assert.deepEqual(await pullSecretsOf('default'), ['other', 'pull-secret'], 'no duplicate, other entries kept');
    const events = await waitFor(async () => {
      const list = (await bed.kube.events(ns, 'pull-secret')).filter((e) => e.reason === 'AttachFailed');
      return list.length > 0 ? list : undefined;
    }, { description: 'AttachFailed for the missing ServiceAccount' });
    assert.match(events[0]!.message ?? '', /^KubeNotFound: attach to ServiceAccount later in namespace attach-\w+: HTTP 404/);
  });

  it('attaches to a ServiceAccount created later, and puts a removed entry back', async () => {
    await bed.kube.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'later' } } });
    await waitFor(async () => (await pullSecretsOf('later')).includes('pull-secret'), { description: 'attached to later' });
    assert.equal((await bed.kube.events(ns, 'pull-secret')).filter((e) => e.reason === 'AttachFailed').length, 1, 'one AttachFailed Event, not one per retry');

    await bed.kube.core.patchNamespacedServiceAccount({ namespace: ns, name: 'app', body: [{ op: 'remove', path: '/imagePullSecrets' }] });
    // ServiceAccounts are watched: the entry comes back without any change to the Secret (whose next
    // refresh is an hour away).
    await waitFor(async () => (await pullSecretsOf('app')).includes('pull-secret'), { description: 'attached to app again', timeoutMs: 10_000 });
    assert.deepEqual(await pullSecretsOf('app'), ['pull-secret']);
  });

  it('tells a Pod stuck pulling that it was created before its ServiceAccount listed the pull secret', async () => {
    await bed.kube.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'racer' } } });
    // Admitted while racer lists no pull secret: admission copies none into the Pod.
    await bed.kube.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'early' }, spec: { serviceAccountName: 'racer', containers: [{ name: 'app', image: 'registry.kube-regcred.test/app:v1' }] } },
    });
    await bed.kube.core.patchNamespacedSecret({
      namespace: ns,
      name: 'pull-secret',
      body: [{ op: 'replace', path: '/metadata/annotations/kube-regcred.io~1attach-to', value: 'app,default,later,racer' }],
    });
    await waitFor(async () => (await pullSecretsOf('racer')).includes('pull-secret'), { description: 'attached to racer' });
    // What kubelet reports when the pull fails (no kubelet runs on the test bed).
    await bed.kube.core.patchNamespacedPodStatus({
      namespace: ns,
      name: 'early',
      body: [{
        op: 'add',
        path: '/status/containerStatuses',
        value: [{ name: 'app', image: 'registry.kube-regcred.test/app:v1', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }],
      }],
    });
    const events = await waitFor(async () => {
      const list = (await bed.kube.events(ns, 'early')).filter((e) => e.reason === 'PullSecretNotInPod');
      return list.length > 0 ? list : undefined;
    }, { description: 'PullSecretNotInPod Event on the Pod' });
    assert.equal(events[0]!.involvedObject.kind, 'Pod');
    assert.match(events[0]!.message ?? '', /pull secret pull-secret is attached to ServiceAccount racer .* re-create the Pod/);

    // A Pod created after the attach has the Secret and gets no such Event.
    await bed.kube.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'late' }, spec: { serviceAccountName: 'racer', containers: [{ name: 'app', image: 'registry.kube-regcred.test/app:v1' }] } },
    });
    const late = await bed.kube.core.readNamespacedPod({ namespace: ns, name: 'late' });
    assert.deepEqual(late.spec?.imagePullSecrets?.map((r) => r.name), ['pull-secret'], 'admission copied the attached Secret');
  });
});
