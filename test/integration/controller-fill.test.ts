// The controller on the real test bed, running as its own ServiceAccount: it fills annotated pull
// secrets, keeps other registries' entries, honours the Chainguard alias, refreshes before expiry, and
// does not rewrite a good Secret after a restart. No token text reaches logs, Events or annotations.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import {
  dockerConfigOf,
  expMs,
  grantSecretName,
  metricValue,
  tokenOf,
  type TestController,
  useControllerBed,
} from './controller-harness.ts';

const IDENTITY = 'a1b2c3d4e5f60718/0011223344556677';

describe('controller: filling and refreshing pull secrets', () => {
  const bed = useControllerBed();
  let ns: string;
  let controller: TestController | undefined;
  const seenTokens = new Set<string>();
  const namespaces: string[] = [];
  const pastLogs: string[] = [];
  const restart = async (watch: string[], args: string[]) => {
    if (controller) {
      await controller.stop();
      pastLogs.push(controller.logs.text());
    }
    controller = await bed.startController(watch, args);
  };

  before(async () => {
    // Registry tokens live 30 s here (the SA token keeps its 1 h): refreshes happen within the test.
    ns = await bed.kube.namespace('fill');
    namespaces.push(ns);
  });

  it('fills an annotated empty pull secret with a token of the STS, as its own ServiceAccount', async () => {
    await bed.kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': IDENTITY });
    await restart([ns], ['--no-leader-elect']);
    const secret = await waitFor(async () => {
      const s = await bed.kube.secret(ns, 'pull-secret');
      return tokenOf(s) ? s : undefined;
    }, { description: `Secret ${ns}/pull-secret filled` });
    const token = tokenOf(secret)!;
    seenTokens.add(token);
    assert.equal(token.split('.').length, 3, 'the written token is a JWT');
    const annotations = secret.metadata?.annotations ?? {};
    assert.ok(annotations['kube-regcred.io/expires-at'], 'expires-at annotation written');
    assert.ok(annotations['kube-regcred.io/refreshed-at'], 'refreshed-at annotation written');
    assert.equal(annotations['kube-regcred.io/last-error'], undefined, 'no last-error after success');
    assert.equal(new Date(annotations['kube-regcred.io/expires-at']!).getTime(), expMs(token));
    // The STS saw the controller's own ServiceAccount, not admin.
    assert.equal(bed.sts.calls.bySubject.get(`system:serviceaccount:${bed.identity.namespace}:kube-regcred`), 1);
    const metrics = await controller!.metricsText();
    assert.equal(metricValue(metrics, 'kube_regcred_exchanges_total', { result: 'success' }), 1);
    assert.equal(metricValue(metrics, 'kube_regcred_token_requests_total', { result: 'success' }), 1);
    assert.equal(metricValue(metrics, 'kube_regcred_secret_refreshes_total'), 1);
    assert.equal(metricValue(metrics, 'kube_regcred_managed_secrets'), 1);
    const earliest = metricValue(metrics, 'kube_regcred_earliest_expiry_seconds');
    assert.ok(earliest > 3000 && earliest <= 3600, `earliest_expiry_seconds ${earliest}, expected about 3600`);
  });

  it('does not reconcile its own write again when its watch event arrives; a user change is reconciled', async () => {
    const waiting = async () => metricValue(await controller!.metricsText(), 'kube_regcred_reconcile_duration_seconds_count', { outcome: 'waiting' });
    // A foreign annotation: a change of the Secret's input, behind the write's event on the same watch.
    await bed.kube.core.patchNamespacedSecret(
      { namespace: ns, name: 'pull-secret', body: [{ op: 'add', path: '/metadata/annotations/team', value: 'payments' }] },
    );
    await waitFor(async () => (await waiting()) >= 1, { description: 'the annotation change reconciled' });
    await controller!.running.controller.idle();
    // One look (the user's change). The event of the controller's own write, seen before it, was not one.
    assert.equal(await waiting(), 1);
    assert.equal(metricValue(await controller!.metricsText(), 'kube_regcred_reconcile_duration_seconds_count', { outcome: 'written' }), 1);
  });

  it('keeps other registries entries and shares one exchange per identity (alias annotation included)', async () => {
    const other = { auths: { 'other.example': { username: 'robot', password: 'p4ss', auth: Buffer.from('robot:p4ss').toString('base64') } }, credHelpers: { 'x.example': 'helper' } };
    const exchangesBefore = bed.sts.calls.exchange;
    await bed.kube.createPullSecret(ns, 'pull-secret-alias', { 'pull-secret-updater.chainguard.dev/identity': IDENTITY }, JSON.stringify(other));
    // Only pull-secret is writable by default: grant this one name like the secret-names component does.
    await grantSecretName(bed.cp, bed.identity, ns, 'pull-secret-alias');
    await bed.kube.core.patchNamespacedSecret(
      { namespace: ns, name: 'pull-secret-alias', body: [{ op: 'add', path: '/metadata/labels', value: { touched: 'yes' } }] },
    );
    const secret = await waitFor(async () => {
      const s = await bed.kube.secret(ns, 'pull-secret-alias');
      return tokenOf(s) ? s : undefined;
    }, { description: 'alias-annotated Secret filled' });
    const config = dockerConfigOf(secret) as { auths: Record<string, unknown>; credHelpers: unknown };
    assert.deepEqual(config.auths['other.example'], other.auths['other.example'], 'other registry entry kept as it was');
    assert.deepEqual(config.credHelpers, other.credHelpers, 'other top-level keys kept');
    // The same identity and registry: the cached token was written, no second exchange.
    assert.equal(tokenOf(secret), tokenOf(await bed.kube.secret(ns, 'pull-secret')));
    assert.equal(bed.sts.calls.exchange, exchangesBefore, 'no new exchange for a second Secret of the same identity');
  });

  it('does not rewrite a Secret holding a good token after a restart', async () => {
    const before = await bed.kube.secret(ns, 'pull-secret');
    await restart([ns], ['--no-leader-elect']);
    await waitFor(() => controller!.running.controller.readiness().ready, { description: 'restarted controller ready' });
    // Let it reconcile everything it saw: the queue goes idle with both Secrets waiting for refresh.
    await waitFor(async () => {
      await controller!.running.controller.idle();
      return controller!.running.controller.queue.scheduledAt(`${ns}/pull-secret`) !== undefined;
    }, { description: 'pull-secret scheduled for its refresh' });
    const afterRestart = await bed.kube.secret(ns, 'pull-secret');
    assert.equal(afterRestart?.metadata?.resourceVersion, before?.metadata?.resourceVersion, 'Secret not rewritten');
    assert.equal(metricValue(await controller!.metricsText(), 'kube_regcred_exchanges_total', { result: 'success' }), 0);
  });

  it('refreshes before expiry, from the token real exp', async () => {
    bed.sts.setTokenLifetime(12);
    const ns2 = await bed.kube.namespace('refresh');
    namespaces.push(ns2);
    await bed.kube.createPullSecret(ns2, 'pull-secret', { 'kube-regcred.io/identity': IDENTITY });
    await restart([ns2], ['--no-leader-elect', '--refresh-min-margin', '1s']);
    const first = await waitFor(async () => tokenOf(await bed.kube.secret(ns2, 'pull-secret')), { description: 'first token' });
    seenTokens.add(first);
    const second = await waitFor(
      async () => {
        const token = tokenOf(await bed.kube.secret(ns2, 'pull-secret'));
        return token && token !== first ? token : undefined;
      },
      { description: 'a refreshed token', timeoutMs: 20_000 },
    );
    seenTokens.add(second);
    const refreshedAt = Date.now();
    assert.ok(refreshedAt < expMs(first), 'the new token arrived before the old one expired');
    assert.ok(expMs(second) > expMs(first));
    // Refreshes happen once per lifetime, not per reconcile: after two lifetimes, at most a few exchanges.
    const third = await waitFor(
      async () => {
        const token = tokenOf(await bed.kube.secret(ns2, 'pull-secret'));
        return token && token !== first && token !== second ? token : undefined;
      },
      { description: 'a second refresh', timeoutMs: 20_000 },
    );
    seenTokens.add(third);
    const refreshes = metricValue(await controller!.metricsText(), 'kube_regcred_secret_refreshes_total');
    assert.ok(refreshes >= 3 && refreshes <= 4, `refreshes: expected 3 (one per lifetime), got ${refreshes}`);
  });

  it('never puts token text in logs, Events or annotations', async () => {
    const texts = [...pastLogs, controller!.logs.text()];
    assert.ok(texts.join('').includes('registry token written'), 'the captured logs are the controller logs');
    for (const namespace of namespaces) {
      for (const event of (await bed.kube.core.listNamespacedEvent({ namespace })).items) texts.push(`${event.reason} ${event.message}`);
      for (const secret of (await bed.kube.core.listNamespacedSecret({ namespace })).items) texts.push(JSON.stringify(secret.metadata?.annotations ?? {}));
    }
    const all = texts.join('\n');
    assert.ok(!all.includes(bed.identity.token), 'the ServiceAccount token appears');
    for (const token of seenTokens) {
      assert.ok(!all.includes(token), 'a registry token appears');
      assert.ok(!all.includes(Buffer.from(`_token:${token}`).toString('base64')), 'an auth value appears');
    }
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(all), 'something JWT-shaped appears');
  });
});

