// A Secret outside the controller's RBAC write grant (only Secrets named pull-secret by default): one
// WriteForbidden Event and one errors_total{code="KubeForbidden"}, no retry storm, the Secret untouched;
// once a per-name Role grants it and the Secret changes, it is filled and a Recovered Event follows.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import {
  Kube,
  createControllerIdentity,
  grantSecretName,
  metricValue,
  startController,
  startSts,
  tokenOf,
  type ControllerIdentity,
  type TestController,
} from './controller-harness.ts';

describe('controller: Secrets outside the RBAC grant', () => {
  let cp: ControlPlane;
  let kube: Kube;
  let identity: ControllerIdentity;
  let sts: TestSts;
  let controller: TestController;
  let ns: string;

  before(async () => {
    cp = await useControlPlane();
    kube = new Kube(cp);
    identity = await createControllerIdentity(cp);
    sts = await startSts(cp, 3600);
    ns = await kube.namespace('rbac');
    controller = await startController(identity, sts, [ns], ['--no-leader-elect']);
  });

  after(async () => {
    await controller?.stop();
    await sts?.stop();
  });

  it('refuses a Secret not named pull-secret with one Event and no retry storm', async () => {
    const original = JSON.stringify({ auths: {} });
    await kube.createPullSecret(ns, 'team-creds', { 'kube-regcred.io/identity': 'rbac/team' }, original);
    const events = await waitFor(async () => {
      const list = (await kube.events(ns, 'team-creds')).filter((e) => e.reason === 'WriteForbidden');
      return list.length > 0 ? list : undefined;
    }, { description: 'a WriteForbidden Event on team-creds' });
    assert.equal(events[0]!.type, 'Warning');
    assert.ok(events[0]!.message?.startsWith('KubeForbidden:'), events[0]!.message);

    // Progress elsewhere proves the controller kept working meanwhile; the refused Secret was not retried.
    await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'rbac/other' });
    await waitFor(async () => tokenOf(await kube.secret(ns, 'pull-secret')), { description: 'pull-secret filled' });
    await controller.running.controller.idle();
    const metrics = await controller.metricsText();
    assert.equal(metricValue(metrics, 'kube_regcred_errors_total', { code: 'KubeForbidden' }), 1, 'one forbidden write attempt');
    assert.equal((await kube.events(ns, 'team-creds')).length, 1, 'one Event for team-creds');
    assert.equal(sts.calls.byIdentity.get('rbac/team'), 1, 'one exchange for the refused Secret');
    const secret = await kube.secret(ns, 'team-creds');
    assert.equal(Buffer.from(secret!.data!['.dockerconfigjson']!, 'base64').toString('utf8'), original, 'data untouched');
    assert.equal(secret?.metadata?.annotations?.['kube-regcred.io/last-error'], undefined, 'no status patch is possible either');
  });

  it('fills it once a per-name Role grants the write and the Secret changes', async () => {
    // The grant goes into effect through the apiserver's RBAC cache; the helper waits for it, so the
    // retry the touch below triggers is not refused again (it would then wait for --forbidden-retry).
    await grantSecretName(cp, identity, ns, 'team-creds');
    await kube.core.patchNamespacedSecret({ namespace: ns, name: 'team-creds', body: [{ op: 'add', path: '/metadata/labels', value: { granted: 'yes' } }] });
    await waitFor(async () => tokenOf(await kube.secret(ns, 'team-creds')), { description: 'team-creds filled after the grant' });
    await waitFor(async () => (await kube.events(ns, 'team-creds')).some((e) => e.reason === 'Recovered' && e.type === 'Normal'), {
      description: 'Recovered Event on team-creds',
    });
  });
});
