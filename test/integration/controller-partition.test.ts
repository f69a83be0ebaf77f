// Two replicas, and the leader cut off from the apiserver by a TCP proxy of the test's own that stops
// forwarding (a network partition): the leader steps down by its own clock before the follower may
// take over, so at no instant do both act as leader, and the old leader sends no write and no Event
// once it is not the leader by its own clock, during the partition or after it heals.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';
import { suffix, tokenOf, type TestController, useControllerBed } from './controller-harness.ts';

/** The time of the first log line with this message, in ms (pino's `time`, ISO in our logger). */
function loggedAt(controller: TestController, msg: string): number | undefined {
  for (const line of controller.logs.lines) {
    const entry = JSON.parse(line) as { msg?: string; time?: string | number };
    if (entry.msg === msg) return new Date(entry.time!).getTime();
  }
  return undefined;
}

function loggedTimes(controller: TestController, msg: string): number[] {
  return controller.logs.lines
    .map((line) => JSON.parse(line) as { msg?: string; time: string | number })
    .filter((e) => e.msg === msg)
    .map((e) => new Date(e.time).getTime());
}

describe('controller: leader cut off from the apiserver', () => {
  const bed = useControllerBed({ stsTokenLifetimeSeconds: 6 });
  let proxy: TcpProxy;
  let leader: TestController;
  let follower: TestController;
  let ns: string;
  const leaseName = `partition-${suffix()}`;
  // Tokens of 6 s with a 1 s margin: a refresh every few seconds, so the leader has writes to do while cut off.
  const args = ['--lease-name', leaseName, '--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms', '--refresh-min-margin', '1s'];

  before(async () => {
    ns = await bed.kube.namespace('partition');
    const server = new URL(bed.cp.server);
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
    const viaProxy = { ...bed.identity, kubeconfig: `${bed.identity.kubeconfig}-proxied` };
    writeFileSync(viaProxy.kubeconfig, readFileSync(bed.identity.kubeconfig, 'utf8').replaceAll(server.origin, `https://127.0.0.1:${proxy.port}`), { mode: 0o600 });
    leader = await bed.startController([ns], args, viaProxy);
    await waitFor(() => leader.running.elector!.isLeader(), { description: 'the proxied replica leads' });
    follower = await bed.startController([ns], args);
  });

  after(async () => {
    await proxy?.stop();
  });

  it('never has two leaders, and the cut-off leader neither writes nor sends Events once it is not leader', async (t) => {
    await bed.kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'partition/one' });
    await waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')), { description: 'Secret filled by the leader' });
    await waitFor(() => follower.running.controller.readiness().ready, { description: 'follower ready' });

    const overlaps: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if (leader.running.elector!.isLeader() && follower.running.elector!.isLeader()) overlaps.push(Date.now());
        await sleep(10);
      }
    })();

    const cutAtMs = Date.now();
    proxy.blackhole();
    await waitFor(() => follower.running.elector!.isLeader(), { description: 'the follower took over', timeoutMs: 20_000 });
    // Refreshes keep coming (6 s tokens): the new leader writes them, the old one must not.
    const tokenAtTakeover = tokenOf(await bed.kube.secret(ns, 'pull-secret'));
    await waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')) !== tokenAtTakeover, { description: 'the new leader refreshed', timeoutMs: 15_000 });
    proxy.heal();
    // After healing, the old leader's cut-off requests fail; whatever it does next must not be a write or an Event.
    await waitFor(() => leader.running.elector!.leader() === follower.running.identity, { description: 'the old leader sees the new one', timeoutMs: 20_000 });
    await sleep(2_000);
    sampling = false;
    await sampler;

    const stoppedAtMs = loggedAt(leader, 'stopped leading');
    const startedAtMs = loggedTimes(follower, 'started leading')[0];
    assert.ok(stoppedAtMs !== undefined, 'the cut-off leader stepped down');
    assert.ok(startedAtMs !== undefined, 'the follower started leading');
    assert.deepEqual(overlaps, [], 'never two replicas leading at once');
    assert.ok(stoppedAtMs < startedAtMs, `the old leader stopped (${stoppedAtMs - cutAtMs} ms after the cut) before the new one started (${startedAtMs - cutAtMs} ms)`);
    const lateWrites = loggedTimes(leader, 'registry token written').filter((at) => at > stoppedAtMs);
    assert.deepEqual(lateWrites, [], 'no write by the old leader after it stepped down');
    const events = await bed.kube.events(ns, 'pull-secret');
    // Event timestamps have whole seconds: anything the old leader sent after it stopped shows as later.
    const stale = events.filter((e) => e.reportingInstance === leader.running.identity && new Date(e.firstTimestamp!).getTime() > stoppedAtMs + 1000);
    assert.deepEqual(stale.map((e) => `${e.reason}: ${e.message}`), [], 'no Event by the old leader after it stepped down');
    t.diagnostic(`cut at 0 ms; old leader stepped down at ${stoppedAtMs - cutAtMs} ms; follower led from ${startedAtMs - cutAtMs} ms (gap ${startedAtMs - stoppedAtMs} ms)`);
  });
});
