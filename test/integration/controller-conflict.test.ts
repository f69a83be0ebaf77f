// Optimistic concurrency on the real apiserver: a write computed from a stale copy of the Secret gets a
// 409, which the reconciler reports as a transient KubeConflict (no Event, no last-error, data kept);
// the retry on the fresh object succeeds and keeps the change made in between.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { createChainguardExchanger } from '../../src/exchange/chainguard.ts';
import { createTokenCache } from '../../src/exchange/token-cache.ts';
import { createEventRecorder } from '../../src/kube/events.ts';
import { createKubeApi } from '../../src/kube/api-client.ts';
import { loadKubeConnection } from '../../src/kube/kube-config.ts';
import { toSecretObject, type SecretObject } from '../../src/kube/secret-informer.ts';
import { createSecretWriter } from '../../src/kube/secret-writer.ts';
import { createTokenRequester } from '../../src/kube/token-request.ts';
import { createControllerMetrics } from '../../src/controller/metrics.ts';
import { createReconciler } from '../../src/controller/reconcile.ts';
import { DEFAULT_REFRESH_SCHEDULE } from '../../src/token/refresh-time.ts';
import { createServiceAccountTokenSource } from '../../src/token/service-account-token.ts';
import { createLogger } from '../../src/log.ts';
import { systemClock } from '../../src/clock.ts';
import { Kube, REGISTRY, SA_NAME, STS_AUDIENCE, createControllerIdentity, metricValue, startSts, tokenOf } from './controller-harness.ts';

describe('controller: write conflicts', () => {
  let cp: ControlPlane;
  let sts: TestSts;

  before(async () => {
    cp = await useControlPlane();
    sts = await startSts(cp, 3600);
  });

  after(async () => {
    await sts?.stop();
  });

  it('turns a stale write into a transient KubeConflict and succeeds on the fresh object', async () => {
    const kube = new Kube(cp);
    const identity = await createControllerIdentity(cp);
    const ns = await kube.namespace('conflict');
    const created = await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'conflict/one' });
    const stale = toSecretObject(created);
    // Someone else changes the Secret after our copy was taken.
    await kube.core.patchNamespacedSecret({ namespace: ns, name: 'pull-secret', body: [{ op: 'add', path: '/metadata/labels', value: { team: 'a' } }] });

    const api = createKubeApi({ connection: loadKubeConnection({ kubeconfigPath: identity.kubeconfig, env: {} }) });
    const registry = new Registry();
    const metrics = createControllerMetrics({ registry, managedSecrets: () => 0, earliestExpirySeconds: () => undefined });
    const logger = createLogger({ level: 'silent' });
    let current: SecretObject = stale;
    const reconciler = createReconciler({
      getSecret: () => current,
      writer: createSecretWriter({ api, fieldManager: 'test' }),
      events: createEventRecorder({ api, clock: systemClock, logger, component: 'test', instance: 'test' }),
      tokenCache: createTokenCache({
        exchanger: createChainguardExchanger({ issuerUrl: sts.url, audience: STS_AUDIENCE, timeoutMs: 2000 }),
        clock: systemClock,
        refresh: DEFAULT_REFRESH_SCHEDULE,
      }),
      serviceAccountTokens: createServiceAccountTokenSource({
        request: createTokenRequester(api, { namespace: identity.namespace, name: SA_NAME }),
        clock: systemClock,
      }),
      audience: STS_AUDIENCE,
      subject: `system:serviceaccount:${identity.namespace}:${SA_NAME}`,
      settings: { defaultRegistry: REGISTRY, registries: [REGISTRY], refresh: DEFAULT_REFRESH_SCHEDULE },
      clock: systemClock,
      logger,
      metrics,
      isLeader: () => true,
    });

    const first = await reconciler.reconcile(`${ns}/pull-secret`);
    assert.equal(first.kind, 'transient');
    assert.equal(first.kind === 'transient' && first.error.code, 'KubeConflict');
    assert.equal(metricValue(await registry.metrics(), 'kube_regcred_errors_total', { code: 'KubeConflict' }), 1);
    const untouched = await kube.secret(ns, 'pull-secret');
    assert.equal(tokenOf(untouched), undefined, 'the stale write did not land');
    assert.equal(untouched?.metadata?.annotations?.['kube-regcred.io/last-error'], undefined, 'a conflict is not reported as last-error');
    assert.deepEqual(await kube.events(ns, 'pull-secret'), [], 'a conflict is not an Event');

    current = toSecretObject((await kube.secret(ns, 'pull-secret'))!);
    const second = await reconciler.reconcile(`${ns}/pull-secret`);
    assert.equal(second.kind, 'ok');
    const written = await kube.secret(ns, 'pull-secret');
    assert.ok(tokenOf(written), 'written on the fresh object');
    assert.equal(written?.metadata?.labels?.['team'], 'a', 'the concurrent change survived');
    assert.equal(sts.calls.exchange, 1, 'the retry reused the exchanged token');
    api.close();
  });
});
