// A registry token without iat/nbf that lives less than the refresh margin is due the moment it is
// written. On the real test bed: the controller writes it, then backs off before the next exchange
// (transient, with backoff), never a tight exchange/write loop.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { tokenOf, type TestController, useControllerBed } from './controller-harness.ts';

describe('controller: a token due on arrival', () => {
  const bed = useControllerBed({ stsTokenLifetimeSeconds: 120 });
  let controller: TestController;
  let ns: string;

  before(async () => {
    // 2 minutes, no iat: with the default 5 min margin it is due for refresh as soon as it exists.
    bed.sts.setIssuedAtClaim(false);
    ns = await bed.kube.namespace('short');
    controller = await bed.startController([ns], ['--no-leader-elect', '--backoff-base', '500ms', '--backoff-max', '4s']);
  });

  it('writes the token and backs off instead of exchanging again at once', async () => {
    await bed.kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'short/one' });
    await waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')), { description: 'Secret filled' });
    const start = bed.sts.calls.issued;
    await sleep(5_000);
    const issued = bed.sts.calls.issued - start;
    // Backoff 0.5, 1, 2, 4 s: a handful of exchanges in 5 s. A loop without backoff makes hundreds.
    assert.ok(issued <= 8, `exchanges in 5 s after the first: ${issued}`);
    assert.ok(controller.running.controller.queue.scheduledAt(`${ns}/pull-secret`) !== undefined, 'the next look waits on a timer');
  });
});
