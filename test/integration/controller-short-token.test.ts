// A registry token without iat/nbf that lives less than the refresh margin is due the moment it is
// written. On the real test bed: the controller writes it, then backs off before the next exchange
// (transient, with backoff), never a tight exchange/write loop.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import { Kube, createControllerIdentity, startController, startSts, tokenOf, type ControllerIdentity, type TestController } from './controller-harness.ts';

describe('controller: a token due on arrival', () => {
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
    // 2 minutes, no iat: with the default 5 min margin it is due for refresh as soon as it exists.
    sts = await startSts(cp, 120);
    sts.setIssuedAtClaim(false);
    ns = await kube.namespace('short');
    controller = await startController(identity, sts, [ns], ['--no-leader-elect', '--backoff-base', '500ms', '--backoff-max', '4s']);
  });

  after(async () => {
    await controller?.stop();
    await sts?.stop();
  });

  it('writes the token and backs off instead of exchanging again at once', async () => {
    await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'short/one' });
    await waitFor(async () => tokenOf(await kube.secret(ns, 'pull-secret')), { description: 'Secret filled' });
    const start = sts.calls.issued;
    await sleep(5_000);
    const issued = sts.calls.issued - start;
    // Backoff 0.5, 1, 2, 4 s: a handful of exchanges in 5 s. A loop without backoff makes hundreds.
    assert.ok(issued <= 8, `exchanges in 5 s after the first: ${issued}`);
    assert.ok(controller.running.controller.queue.scheduledAt(`${ns}/pull-secret`) !== undefined, 'the next look waits on a timer');
  });
});
