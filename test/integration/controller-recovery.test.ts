// Recovery after an STS outage that outlasts the tokens, on the real test bed: once one exchange for an
// identity succeeds, every Secret of that identity gets the new token at once, without waiting for its
// own (long) backoff timer, and from that one exchange.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { expMs, tokenOf, type TestController, useControllerBed } from './controller-harness.ts';

const LIFETIME_SECONDS = 10;
const SECRETS = 5;
const IDENTITY = 'recovery/one';

describe('controller: recovery after an STS outage', () => {
  const bed = useControllerBed({ stsTokenLifetimeSeconds: LIFETIME_SECONDS });
  let controller: TestController;
  const namespaces: string[] = [];

  before(async () => {
    for (let i = 0; i < SECRETS; i++) namespaces.push(await bed.kube.namespace('recovery'));
    // Backoff of at least 20 s once the old tokens are gone: far longer than this test waits for recovery.
    controller = await bed.startController(namespaces, ['--no-leader-elect', '--refresh-min-margin', '1s', '--backoff-base', '20s', '--backoff-max', '60s']);
  });

  it('refreshes every Secret of the identity from the first successful exchange, not at its own backoff', async (t) => {
    for (const ns of namespaces) await bed.kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': IDENTITY });
    const originals = await Promise.all(namespaces.map((ns) => waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')), { description: `${ns} filled` })));
    const lastExpMs = Math.max(...originals.map(expMs));
    bed.sts.setFault(500);

    // The outage outlasts every token, and every Secret has failed and sits on its backoff timer.
    await waitFor(() => Date.now() > lastExpMs + 1000, { description: 'outage past the tokens exp', timeoutMs: 20_000 });
    for (const ns of namespaces) {
      await waitFor(async () => (await bed.kube.secret(ns, 'pull-secret'))?.metadata?.annotations?.['kube-regcred.io/last-error']?.startsWith('StsServerError'), {
        description: `${ns} reported the outage`,
      });
    }
    const queue = controller.running.controller.queue;
    const timers = new Map(namespaces.map((ns) => [ns, queue.scheduledAt(`${ns}/pull-secret`)?.getTime()]));
    for (const [ns, at] of timers) assert.ok(at !== undefined && at > Date.now() + 10_000, `${ns} waits on a long backoff timer (${at === undefined ? 'none' : at - Date.now()} ms)`);

    // The STS is back. One Secret changes (as any input change or its own timer would), so it is
    // reconciled now; its exchange is the first success.
    bed.sts.setFault(undefined);
    const exchangesBefore = bed.sts.calls.issued;
    const healedAtMs = Date.now();
    await bed.kube.core.patchNamespacedSecret({ namespace: namespaces[0]!, name: 'pull-secret', body: [{ op: 'add', path: '/metadata/labels', value: { touched: 'yes' } }] });

    const seenAtMs = new Map<string, number>();
    await waitFor(
      async () => {
        for (const [i, ns] of namespaces.entries()) {
          if (seenAtMs.has(ns)) continue;
          const token = tokenOf(await bed.kube.secret(ns, 'pull-secret'));
          if (token !== undefined && token !== originals[i]) seenAtMs.set(ns, Date.now());
        }
        return seenAtMs.size === namespaces.length;
      },
      { description: 'every Secret refreshed after the outage', timeoutMs: 15_000, intervalMs: 50 },
    );

    for (const ns of namespaces.slice(1)) {
      assert.ok(seenAtMs.get(ns)! < timers.get(ns)!, `${ns} was refreshed before its own backoff timer`);
    }
    assert.equal(bed.sts.calls.issued - exchangesBefore, 1, 'one exchange served every Secret of the identity');
    const spreadMs = Math.max(...seenAtMs.values()) - Math.min(...seenAtMs.values());
    t.diagnostic(`all ${SECRETS} Secrets refreshed ${Math.max(...seenAtMs.values()) - healedAtMs} ms after the STS came back; ${spreadMs} ms between the first and the last`);
  });
});
