// The Secret informer when the API refuses it: the list-watch loop must report it (metric, not ready)
// and restart it with backoff until it works.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import { Kube, createControllerIdentity, metricValue, startController, startSts, tokenOf, type TestController } from './controller-harness.ts';

describe('controller: Secret informer failures', () => {
  let cp: ControlPlane;
  let sts: TestSts;
  let controller: TestController | undefined;

  before(async () => {
    cp = await useControlPlane();
    sts = await startSts(cp, 3600);
  });

  after(async () => {
    await controller?.stop();
    await sts?.stop();
  });

  it('is not ready while it may not list Secrets, reports it, and recovers once allowed', async () => {
    const kube = new Kube(cp);
    const identity = await createControllerIdentity(cp, { bindReadSecrets: false });
    const ns = await kube.namespace('informer');
    await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'informer/one' });
    controller = await startController(identity, sts, [ns], ['--no-leader-elect']);
    const ops = `http://127.0.0.1:${controller.running.opsPort}`;

    await waitFor(async () => metricValue(await controller!.metricsText(), 'kube_regcred_errors_total', { code: 'KubeForbidden' }) >= 1, {
      description: 'the refused list counted as KubeForbidden',
    });
    const notReady = await fetch(`${ops}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /secret cache not synced/);
    assert.equal((await fetch(`${ops}/healthz`)).status, 200, 'still live: restarting the Pod would not help');

    await identity.bindReadSecrets();
    await waitFor(async () => (await fetch(`${ops}/readyz`)).status === 200, { description: 'ready after the grant', timeoutMs: 30_000 });
    await waitFor(async () => tokenOf(await kube.secret(ns, 'pull-secret')), { description: 'Secret filled after the informer recovered' });
    assert.ok(controller.logs.text().includes('list/watch failed; restarting'), 'the restart was logged');
  });
});
