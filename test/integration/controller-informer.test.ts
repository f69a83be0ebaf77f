// The Secret informer when the API refuses it: the list-watch loop must report it (metric, not ready)
// and restart it with backoff until it works.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { metricValue, tokenOf, type TestController, useControllerBed } from './controller-harness.ts';

describe('controller: Secret informer failures', () => {
  // The controller's identity starts without the grant to read Secrets.
  const bed = useControllerBed({ bindReadSecrets: false });
  let controller: TestController | undefined;

  it('is not ready while it may not list Secrets, reports it, and recovers once allowed', async () => {
    const { kube, identity } = bed;
    const ns = await kube.namespace('informer');
    await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'informer/one' });
    controller = await bed.startController([ns], ['--no-leader-elect']);
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
