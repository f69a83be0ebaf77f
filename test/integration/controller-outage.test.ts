// An STS outage longer than the refresh margin, on the real test bed: the controller retries with
// backoff (before the old token's exp, not after a long sleep), reports the failure once, never takes a
// still-valid token out of the Secret, and refreshes as soon as the STS is back.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import {
  Kube,
  createControllerIdentity,
  expMs,
  startController,
  startSts,
  tokenOf,
  type ControllerIdentity,
  type TestController,
} from './controller-harness.ts';

const LIFETIME_SECONDS = 15;

describe('controller: STS outage', () => {
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
    sts = await startSts(cp, LIFETIME_SECONDS);
    ns = await kube.namespace('outage');
    controller = await startController(identity, sts, [ns], ['--no-leader-elect', '--refresh-min-margin', '1s', '--backoff-max', '3s']);
  });

  after(async () => {
    await controller?.stop();
    await sts?.stop();
  });

  it('keeps the valid token through an outage longer than the refresh margin, then refreshes', async () => {
    await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'outage/one' });
    const original = await waitFor(async () => tokenOf(await kube.secret(ns, 'pull-secret')), { description: 'Secret filled' });
    const originalExpMs = expMs(original);
    sts.setFault(500);

    // Watch the Secret for the whole outage: every observation must still hold the original token.
    const observations: Array<{ atMs: number; token: string | undefined }> = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        observations.push({ atMs: Date.now(), token: tokenOf(await kube.secret(ns, 'pull-secret')) });
        await sleep(200);
      }
    })();

    // The refresh is due a third of the lifetime before exp; it fails and is reported...
    await waitFor(async () => (await kube.secret(ns, 'pull-secret'))?.metadata?.annotations?.['kube-regcred.io/last-error']?.startsWith('StsServerError:'), {
      description: 'last-error StsServerError after the refresh attempt',
    });
    const failedAt = sts.calls.byIdentity.get('outage/one') ?? 0;
    // ...and retried with backoff while the old token is still valid...
    await waitFor(() => (sts.calls.byIdentity.get('outage/one') ?? 0) >= failedAt + 2, { description: 'retries during the outage', timeoutMs: 20_000 });
    // ...and the outage lasts past the token's exp (longer than the whole refresh margin).
    await waitFor(() => Date.now() > originalExpMs + 1000, { description: 'outage outlasting the token', timeoutMs: 20_000 });
    const retriesBeforeExp = sts.calls.byIdentity.get('outage/one')! - 1;
    sts.setFault(undefined);

    const refreshed = await waitFor(
      async () => {
        const token = tokenOf(await kube.secret(ns, 'pull-secret'));
        return token && token !== original ? token : undefined;
      },
      { description: 'a new token after the outage', timeoutMs: 15_000 },
    );
    watching = false;
    await watcher;

    assert.ok(expMs(refreshed) > Date.now(), 'the new token is valid');
    const lost = observations.filter((o) => o.token !== original && o.token !== refreshed);
    assert.deepEqual(lost, [], 'the Secret never lost or changed its token except to the refreshed one');
    assert.ok(observations.filter((o) => o.atMs < originalExpMs).every((o) => o.token === original), 'valid token kept until its exp');
    assert.ok(retriesBeforeExp >= 3, `several attempts during the outage, got ${retriesBeforeExp}`);
    const warnings = (await kube.events(ns, 'pull-secret')).filter((e) => e.type === 'Warning');
    assert.equal(warnings.length, 1, `one Warning Event for the outage, got ${warnings.length}`);
    const secret = await kube.secret(ns, 'pull-secret');
    assert.equal(secret?.metadata?.annotations?.['kube-regcred.io/last-error'], undefined, 'last-error cleared');
  });
});
