// A Secret outside the controller's RBAC write grant (only Secrets named pull-secret by default): one
// WriteForbidden Event and one errors_total{code="KubeForbidden"}, no retry storm, the Secret untouched;
// once a per-name Role grants it and the Secret changes, it is filled and a Recovered Event follows.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import {
  grantSecretName,
  metricValue,
  tokenOf,
  type TestController,
  useControllerBed,
} from './controller-harness.ts';

describe('controller: Secrets outside the RBAC grant', () => {
  const bed = useControllerBed();
  let controller: TestController;
  let ns: string;

  before(async () => {
    ns = await bed.kube.namespace('rbac');
    controller = await bed.startController([ns], ['--no-leader-elect']);
  });

  it('refuses a Secret not named pull-secret with one Event and no retry storm', async () => {
    const original = JSON.stringify({ auths: {} });
    await bed.kube.createPullSecret(ns, 'team-creds', { 'kube-regcred.io/identity': 'rbac/team' }, original);
    const events = await waitFor(async () => {
      const list = (await bed.kube.events(ns, 'team-creds')).filter((e) => e.reason === 'WriteForbidden');
      return list.length > 0 ? list : undefined;
    }, { description: 'a WriteForbidden Event on team-creds' });
    assert.equal(events[0]!.type, 'Warning');
    assert.ok(events[0]!.message?.startsWith('KubeForbidden:'), events[0]!.message);

    // Progress elsewhere proves the controller kept working meanwhile; the refused Secret was not retried.
    await bed.kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'rbac/other' });
    await waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')), { description: 'pull-secret filled' });
    await controller.running.controller.idle();
    const metrics = await controller.metricsText();
    assert.equal(metricValue(metrics, 'kube_regcred_errors_total', { code: 'KubeForbidden' }), 1, 'one forbidden write attempt');
    assert.equal((await bed.kube.events(ns, 'team-creds')).length, 1, 'one Event for team-creds');
    assert.equal(bed.sts.calls.byIdentity.get('rbac/team'), 1, 'one exchange for the refused Secret');
    const secret = await bed.kube.secret(ns, 'team-creds');
    assert.equal(Buffer.from(secret!.data!['.dockerconfigjson']!, 'base64').toString('utf8'), original, 'data untouched');
    assert.equal(secret?.metadata?.annotations?.['kube-regcred.io/last-error'], undefined, 'no status patch is possible either');
  });

  it('fills it once a per-name Role grants the write and the Secret changes', async () => {
    // The grant goes into effect through the apiserver's RBAC cache; the helper waits for it, so the
    // retry the touch below triggers is not refused again (it would then wait for --forbidden-retry).
    await grantSecretName(bed.cp, bed.identity, ns, 'team-creds');
    await bed.kube.core.patchNamespacedSecret({ namespace: ns, name: 'team-creds', body: [{ op: 'add', path: '/metadata/labels', value: { granted: 'yes' } }] });
    await waitFor(async () => tokenOf(await bed.kube.secret(ns, 'team-creds')), { description: 'team-creds filled after the grant' });
    await waitFor(async () => (await bed.kube.events(ns, 'team-creds')).some((e) => e.reason === 'Recovered' && e.type === 'Normal'), {
      description: 'Recovered Event on team-creds',
    });
  });
});
