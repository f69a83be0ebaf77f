// Recovery after a TokenRequest outage for pass-through Secrets, on the real test bed: while the
// controller may not mint its own ServiceAccount's tokens (its RBAC grant is gone: TokenRequestFailed,
// transient), every pass-through Secret of one audience fails and sits on a long backoff timer. Once one
// TokenRequest succeeds, every Secret of that audience gets the token at once, from that one request,
// not at its own timer (the pass-through token cache wakes its waiters as the exchange cache does).
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import { Kube, REGISTRY, SA_NAME, createControllerIdentity, dockerConfigOf, metricValue, startController, startSts, type ControllerIdentity, type TestController } from './controller-harness.ts';
import { scratchDir } from '../support/scratch.ts';

const AUDIENCE = 'registry.passthrough-recovery.test';
const SECRETS = 5;
const LEASES: V1PolicyRule = { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] };
const TOKENS: V1PolicyRule = { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: [SA_NAME] };

/** The pass-through token (the entry's password; its username is the configured issuer name, not `_token`). */
const passwordOf = (secret: Parameters<typeof dockerConfigOf>[0]) =>
  (dockerConfigOf(secret) as { auths?: Record<string, { password?: string }> } | undefined)?.auths?.[REGISTRY]?.password;

describe('controller: pass-through recovery after a TokenRequest outage', () => {
  let cp: ControlPlane;
  let kube: Kube;
  let rbac: RbacAuthorizationV1Api;
  let identity: ControllerIdentity;
  let sts: TestSts;
  let controller: TestController;
  let dir: string;
  const namespaces: string[] = [];

  // The harness's namespaced Role of the controller (Leases, its own TokenRequests), with or without tokens.
  const grantTokens = (on: boolean) =>
    rbac.replaceNamespacedRole({ namespace: identity.namespace, name: 'kube-regcred', body: { metadata: { name: 'kube-regcred' }, rules: on ? [LEASES, TOKENS] : [LEASES] } });

  before(async () => {
    cp = await useControlPlane();
    kube = new Kube(cp);
    rbac = cp.kubeConfig('admin').makeApiClient(RbacAuthorizationV1Api);
    identity = await createControllerIdentity(cp);
    sts = await startSts(cp, 3600);
    for (let i = 0; i < SECRETS; i++) namespaces.push(await kube.namespace('pt-recovery'));
    dir = scratchDir('pt-recovery-');
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, `identities: []\npassthrough:\n  - audience: ${AUDIENCE}\n    namespaces: [${namespaces.join(', ')}]\n`);
    await grantTokens(false);
    // Backoff of at least 20 s: far longer than this test waits for recovery.
    controller = await startController(identity, sts, namespaces, [
      '--no-leader-elect',
      '--identity-policy', policy,
      '--passthrough-registries', `${REGISTRY}=${AUDIENCE}`,
      '--backoff-base', '20s',
      '--backoff-max', '60s',
    ]);
  });

  after(async () => {
    await controller?.stop();
    await sts?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('fills every pass-through Secret of the audience from the first successful TokenRequest, not at its own backoff', async (t) => {
    for (const ns of namespaces) await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/exchange': 'passthrough' });
    for (const ns of namespaces) {
      await waitFor(async () => (await kube.secret(ns, 'pull-secret'))?.metadata?.annotations?.['kube-regcred.io/last-error']?.startsWith('TokenRequestFailed'), {
        description: `${ns} reported the failed TokenRequest`,
      });
    }
    const queue = controller.running.controller.queue;
    const timers = new Map(namespaces.map((ns) => [ns, queue.scheduledAt(`${ns}/pull-secret`)?.getTime()]));
    for (const [ns, at] of timers) assert.ok(at !== undefined && at > Date.now() + 10_000, `${ns} waits on a long backoff timer (${at === undefined ? 'none' : at - Date.now()} ms)`);

    // The grant is back. One Secret changes (as any input change or its own timer would), so it is
    // reconciled now; its TokenRequest is the first success.
    await grantTokens(true);
    const requestsBefore = metricValue(await controller.metricsText(), 'kube_regcred_token_requests_total', { result: 'success' });
    const healedAtMs = Date.now();
    await kube.core.patchNamespacedSecret({ namespace: namespaces[0]!, name: 'pull-secret', body: [{ op: 'add', path: '/metadata/labels', value: { touched: 'yes' } }] });

    const seenAtMs = new Map<string, number>();
    const tokens = new Set<string>();
    await waitFor(
      async () => {
        for (const ns of namespaces) {
          if (seenAtMs.has(ns)) continue;
          const token = passwordOf(await kube.secret(ns, 'pull-secret'));
          if (token === undefined) continue;
          seenAtMs.set(ns, Date.now());
          tokens.add(token);
        }
        return seenAtMs.size === namespaces.length;
      },
      { description: 'every pass-through Secret filled after the outage', timeoutMs: 15_000, intervalMs: 50 },
    );

    for (const ns of namespaces.slice(1)) assert.ok(seenAtMs.get(ns)! < timers.get(ns)!, `${ns} was filled before its own backoff timer`);
    assert.equal(tokens.size, 1, 'one token (the controller\'s, for the audience) in every Secret');
    const requests = metricValue(await controller.metricsText(), 'kube_regcred_token_requests_total', { result: 'success' }) - requestsBefore;
    assert.equal(requests, 1, 'one TokenRequest served every Secret of the audience');
    t.diagnostic(`all ${SECRETS} Secrets filled ${Math.max(...seenAtMs.values()) - healedAtMs} ms after the grant came back`);
  });
});
