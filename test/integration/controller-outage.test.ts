// An STS outage longer than the refresh margin, on the real test bed: the controller retries with
// backoff (before the old token's exp, not after a long sleep), reports the failure once, never takes a
// still-valid token out of the Secret, and refreshes as soon as the STS is back.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import {
  expMs,
  tokenOf,
  type TestController,
  useControllerBed,
} from './controller-harness.ts';

const LIFETIME_SECONDS = 15;

describe('controller: STS outage', () => {
  const bed = useControllerBed({ stsTokenLifetimeSeconds: LIFETIME_SECONDS });
  let controller: TestController;
  let ns: string;

  before(async () => {
    ns = await bed.kube.namespace('outage');
    controller = await bed.startController([ns], ['--no-leader-elect', '--refresh-min-margin', '1s', '--backoff-max', '3s']);
  });

  it('keeps the valid token through an outage longer than the refresh margin, then refreshes', async () => {
    await bed.kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'outage/one' });
    const original = await waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')), { description: 'Secret filled' });
    const originalExpMs = expMs(original);
    bed.sts.setFault(500);

    // Watch the Secret for the whole outage: every observation must still hold the original token.
    const observations: Array<{ atMs: number; token: string | undefined }> = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        observations.push({ atMs: Date.now(), token: tokenOf(await bed.kube.secret(ns, 'pull-secret')) });
        await sleep(200);
      }
    })();

    // The refresh is due a third of the lifetime before exp; it fails and is reported...
    await waitFor(async () => (await bed.kube.secret(ns, 'pull-secret'))?.metadata?.annotations?.['kube-regcred.io/last-error']?.startsWith('StsServerError:'), {
      description: 'last-error StsServerError after the refresh attempt',
    });
    const failedAt = bed.sts.calls.byIdentity.get('outage/one') ?? 0;
    // ...and retried with backoff while the old token is still valid...
    await waitFor(() => (bed.sts.calls.byIdentity.get('outage/one') ?? 0) >= failedAt + 2, { description: 'retries during the outage', timeoutMs: 20_000 });
    // ...and the outage lasts past the token's exp (longer than the whole refresh margin).
    await waitFor(() => Date.now() > originalExpMs + 1000, { description: 'outage outlasting the token', timeoutMs: 20_000 });
    const retriesBeforeExp = bed.sts.calls.byIdentity.get('outage/one')! - 1;
    bed.sts.setFault(undefined);

    const refreshed = await waitFor(
      async () => {
        const token = tokenOf(await bed.kube.secret(ns, 'pull-secret'));
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
    const warnings = (await bed.kube.events(ns, 'pull-secret')).filter((e) => e.type === 'Warning');
    assert.equal(warnings.length, 1, `one Warning Event for the outage, got ${warnings.length}`);
    const secret = await bed.kube.secret(ns, 'pull-secret');
    assert.equal(secret?.metadata?.annotations?.['kube-regcred.io/last-error'], undefined, 'last-error cleared');
  });
});
