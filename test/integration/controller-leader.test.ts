// Two controllers sharing one Lease on the real test bed: exactly one writes, the follower keeps its
// cache warm and is ready, and when the leader stops (releasing the Lease) the follower takes over.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { waitFor } from '../support/wait.ts';
import {
  metricValue,
  suffix,
  tokenOf,
  type TestController,
  useControllerBed,
} from './controller-harness.ts';

describe('controller: leader election', () => {
  const bed = useControllerBed();
  let first: TestController;
  let second: TestController;
  let ns1: string;
  let ns2: string;
  const leaseName = `regcred-${suffix()}`;
  const args = ['--lease-name', leaseName, '--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms'];

  before(async () => {
    ns1 = await bed.kube.namespace('leader');
    ns2 = await bed.kube.namespace('leader');
    first = await bed.startController([ns1, ns2], args);
    second = await bed.startController([ns1, ns2], args);
  });

  it('elects exactly one leader; only it exchanges and writes; both are ready', async () => {
    await waitFor(() => first.running.elector!.isLeader() !== second.running.elector!.isLeader(), { description: 'one leader' });
    const [leader, follower] = first.running.elector!.isLeader() ? [first, second] : [second, first];
    await waitFor(() => follower.running.controller.readiness().ready, { description: 'follower ready (leader known)' });
    assert.equal(follower.running.elector!.leader(), leader.running.identity, 'the follower knows who leads');
    const lease = await bed.cp.kubeConfig('admin').makeApiClient(CoordinationV1Api).readNamespacedLease({ name: leaseName, namespace: bed.identity.namespace });
    assert.equal(lease.spec?.holderIdentity, leader.running.identity);

    await bed.kube.createPullSecret(ns1, 'pull-secret', { 'kube-regcred.io/identity': 'leader/one' });
    await waitFor(async () => tokenOf(await bed.kube.secret(ns1, 'pull-secret')), { description: 'Secret filled' });
    // The follower saw the Secret too (warm cache) but did nothing with it.
    await waitFor(async () => metricValue(await follower.metricsText(), 'kube_regcred_managed_secrets') === 1, {
      description: 'follower cache holds the Secret',
    });
    const leaderMetrics = await leader.metricsText();
    const followerMetrics = await follower.metricsText();
    assert.equal(metricValue(leaderMetrics, 'kube_regcred_secret_refreshes_total'), 1, 'the leader wrote once');
    assert.equal(metricValue(followerMetrics, 'kube_regcred_secret_refreshes_total'), 0, 'the follower never wrote');
    assert.equal(metricValue(followerMetrics, 'kube_regcred_exchanges_total', { result: 'success' }), 0, 'the follower never exchanged');
    assert.equal(metricValue(followerMetrics, 'kube_regcred_token_requests_total', { result: 'success' }), 0, 'the follower never asked for a token');
    assert.equal(bed.sts.calls.exchange, 1, 'one exchange in all');
  });

  it('hands over when the leader stops: the follower takes the Lease and writes', async () => {
    const [leader, follower] = first.running.elector!.isLeader() ? [first, second] : [second, first];
    await leader.stop();
    await waitFor(() => follower.running.elector!.isLeader(), { description: 'follower took over', timeoutMs: 10_000 });
    await bed.kube.createPullSecret(ns2, 'pull-secret', { 'kube-regcred.io/identity': 'leader/two' });
    await waitFor(async () => tokenOf(await bed.kube.secret(ns2, 'pull-secret')), { description: 'Secret filled by the new leader' });
    assert.equal(metricValue(await follower.metricsText(), 'kube_regcred_secret_refreshes_total'), 1, 'the new leader wrote it');
    // The first Secret still holds its good token: the new leader did not rewrite it.
    const lease = await bed.cp.kubeConfig('admin').makeApiClient(CoordinationV1Api).readNamespacedLease({ name: leaseName, namespace: bed.identity.namespace });
    assert.equal(lease.spec?.holderIdentity, follower.running.identity);
    assert.ok((lease.spec?.leaseTransitions ?? 0) >= 1, 'a transition was recorded');
  });

  it('takes over a Lease whose holder stopped renewing, only after the lease duration', async () => {
    const ghostLease = `ghost-${suffix()}`;
    const ns3 = await bed.kube.namespace('leader');
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    // A holder that never renews (a crashed leader): its Lease is fresh when the controller starts.
    await bed.cp.kubeConfig('admin').makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: bed.identity.namespace,
      body: {
        metadata: { name: ghostLease },
        spec: { holderIdentity: 'ghost', leaseDurationSeconds: 4, renewTime: now as unknown as Date, acquireTime: now as unknown as Date },
      },
    });
    await bed.kube.createPullSecret(ns3, 'pull-secret', { 'kube-regcred.io/identity': 'leader/three' });
    const third = await bed.startController([ns3], ['--lease-name', ghostLease, '--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms']);
    try {
      await waitFor(() => third.running.controller.readiness().ready, { description: 'ready as a follower of the ghost' });
      assert.equal(third.running.elector!.leader(), 'ghost');
      assert.equal(third.running.elector!.isLeader(), false);
      assert.equal(tokenOf(await bed.kube.secret(ns3, 'pull-secret')), undefined, 'a follower does not write');
      await waitFor(() => third.running.elector!.isLeader(), { description: 'took over the expired Lease', timeoutMs: 15_000 });
      await waitFor(async () => tokenOf(await bed.kube.secret(ns3, 'pull-secret')), { description: 'filled after the takeover' });
    } finally {
      await third.stop();
    }
  });
});
