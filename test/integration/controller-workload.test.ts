// Per-workload identity on the real test bed: a Secret annotated kube-regcred.io/service-account is
// refreshed with a token of THAT ServiceAccount (subject system:serviceaccount:<ns>:<sa>), and our sts
// can then authorize per namespace with a CEL condition: namespace A is served, namespace B refused.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { startStsProcess, type RunningSts } from '../../src/cmd/sts.ts';
import { createCertificateAuthority, issueCertificate } from '../support/pki.ts';
import type { TestSts } from '../support/test-sts.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { waitFor } from '../support/wait.ts';
import { captureLogs } from '../unit/sts-fixtures.ts';
import {
  Kube,
  REGISTRY,
  SA_NAME,
  STS_AUDIENCE,
  createControllerIdentity,
  metricValue,
  startController,
  startSts,
  tokenOf,
  type ControllerIdentity,
  type TestController,
} from './controller-harness.ts';
import { scratchDir } from '../support/scratch.ts';

/** What manifests/components/workload-identity grants: TokenRequest for any ServiceAccount. */
async function grantWorkloadTokens(cp: ControlPlane, identity: ControllerIdentity): Promise<void> {
  const kube = new Kube(cp);
  const name = `kube-regcred-${identity.namespace}:workload-tokens`;
  await kube.rbac.createClusterRole({
    body: { metadata: { name }, rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] }] },
  });
  await kube.rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: SA_NAME, namespace: identity.namespace }],
    },
  });
}

describe('controller: per-workload identity', () => {
  let cp: ControlPlane;
  let kube: Kube;
  let identity: ControllerIdentity;
  let nsA: string;
  let nsB: string;
  const stopAtEnd: (() => Promise<void>)[] = [];

  before(async () => {
    cp = await useControlPlane();
    kube = new Kube(cp);
    identity = await createControllerIdentity(cp);
    await grantWorkloadTokens(cp, identity);
    nsA = await kube.namespace('workload-a');
    nsB = await kube.namespace('workload-b');
    for (const ns of [nsA, nsB]) await kube.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'builder' } } });
  });

  after(async () => {
    for (const stop of stopAtEnd.reverse()) await stop();
  });

  it('presents a token whose subject is the workload ServiceAccount', async () => {
    const sts: TestSts = await startSts(cp, 3600);
    stopAtEnd.push(() => sts.stop());
    const controller: TestController = await startController(identity, sts, [nsA], ['--no-leader-elect', '--workload-identity']);
    stopAtEnd.push(() => controller.stop());
    await kube.createPullSecret(nsA, 'pull-secret', { 'kube-regcred.io/identity': 'wl/builder', 'kube-regcred.io/service-account': 'builder' });
    const secret = await waitFor(async () => {
      const s = await kube.secret(nsA, 'pull-secret');
      return tokenOf(s) ? s : undefined;
    }, { description: 'pull-secret filled with the workload identity' });
    assert.equal(sts.calls.bySubject.get(`system:serviceaccount:${nsA}:builder`), 1);
    assert.equal(sts.calls.bySubject.get(`system:serviceaccount:${identity.namespace}:${SA_NAME}`), undefined, "the controller's own token was not used");
    assert.equal(secret.metadata?.annotations?.['kube-regcred.io/token-for'], `identity=wl/builder,registry=${REGISTRY},service-account=builder`);
    // The workload's token was bound to the Secret it serves (TokenRequest boundObjectRef).
    const bound = (sts.calls.lastCallerClaims?.['kubernetes.io'] as { secret?: { name?: string; uid?: string } } | undefined)?.secret;
    assert.deepEqual(bound, { name: 'pull-secret', uid: secret.metadata?.uid }, 'the subject token names its Secret');
    await controller.stop();
    stopAtEnd.pop();
  });

  it('lets our sts allow namespace A and refuse namespace B with a CEL condition', async () => {
    const work = scratchDir('controller-workload-');
    const ca = createCertificateAuthority(mkdtempSync(join(work, 'pki-')), 'kube-regcred workload test root');
    const signer = issueCertificate(ca, { commonName: 'sts signer', keyType: 'ec', fileStem: 'signer' });
    const configPath = join(work, 'sts.yaml');
    writeFileSync(configPath, toYaml({
      service: REGISTRY,
      tokenIssuer: 'kube-regcred-sts-workload-test',
      lifetimes: { exchange: '10m', registry: '5m' },
      signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle: 'x5c' },
      issuers: [{ name: 'cluster', issuer: cp.issuer, audiences: [STS_AUDIENCE], caFile: cp.caFile }],
      identities: [{
        uid: 'wl/builder',
        issuer: 'cluster',
        subjectPattern: 'system:serviceaccount:*:builder',
        condition: `claims["kubernetes.io"].namespace == "${nsA}"`,
        grants: [{ repository: 'apps/**', actions: ['pull'] }],
      }],
    }));
    const sts: RunningSts = await startStsProcess(
      { configPath, listen: { host: '127.0.0.1', port: 0 }, ops: { host: '127.0.0.1', port: 0 }, shutdownGraceMs: 1_000, logLevel: 'warn' },
      { logDestination: captureLogs().stream, watch: { pollIntervalMs: 0 } },
    );
    stopAtEnd.push(() => sts.stop());
    const controller = await startController(identity, { url: `http://127.0.0.1:${sts.port}` } as TestSts, [nsA, nsB], ['--no-leader-elect', '--workload-identity']);
    stopAtEnd.push(() => controller.stop());

    // nsA's Secret from the first test is refreshed by this controller only when due; a new one in each namespace:
    await kube.core.deleteNamespacedSecret({ namespace: nsA, name: 'pull-secret' });
    await kube.createPullSecret(nsA, 'pull-secret', { 'kube-regcred.io/identity': 'wl/builder', 'kube-regcred.io/service-account': 'builder' });
    await kube.createPullSecret(nsB, 'pull-secret', { 'kube-regcred.io/identity': 'wl/builder', 'kube-regcred.io/service-account': 'builder' });
    const token = await waitFor(async () => tokenOf(await kube.secret(nsA, 'pull-secret')), { description: 'namespace A served' });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string };
    assert.equal(claims.sub, 'wl/builder');
    const refused = await waitFor(async () => {
      const s = await kube.secret(nsB, 'pull-secret');
      return s?.metadata?.annotations?.['kube-regcred.io/last-error'] ? s : undefined;
    }, { description: 'namespace B refused' });
    assert.match(refused.metadata!.annotations!['kube-regcred.io/last-error']!, /^StsForbidden:/);
    assert.equal(tokenOf(refused), undefined);
    assert.ok(metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'StsForbidden' }) >= 1);
  });

  it('refuses the annotation when per-workload identity is off', async () => {
    const sts: TestSts = await startSts(cp, 3600);
    stopAtEnd.push(() => sts.stop());
    const nsC = await kube.namespace('workload-off');
    const controller = await startController(identity, sts, [nsC], ['--no-leader-elect']);
    stopAtEnd.push(() => controller.stop());
    await kube.createPullSecret(nsC, 'pull-secret', { 'kube-regcred.io/identity': 'wl/builder', 'kube-regcred.io/service-account': 'builder' });
    const secret = await waitFor(async () => {
      const s = await kube.secret(nsC, 'pull-secret');
      return s?.metadata?.annotations?.['kube-regcred.io/last-error'] ? s : undefined;
    }, { description: 'last-error on the Secret' });
    assert.match(secret.metadata!.annotations!['kube-regcred.io/last-error']!, /^ServiceAccountInvalid: .*--workload-identity/);
    assert.equal(sts.calls.exchange, 0, 'no exchange with the controller identity instead');
  });

  it('reports TokenRequestForbidden when the workload-identity RBAC is missing', async () => {
    const ungranted = await createControllerIdentity(cp);
    const sts: TestSts = await startSts(cp, 3600);
    stopAtEnd.push(() => sts.stop());
    const nsD = await kube.namespace('workload-norbac');
    await kube.core.createNamespacedServiceAccount({ namespace: nsD, body: { metadata: { name: 'builder' } } });
    const controller = await startController(ungranted, sts, [nsD], ['--no-leader-elect', '--workload-identity']);
    stopAtEnd.push(() => controller.stop());
    await kube.createPullSecret(nsD, 'pull-secret', { 'kube-regcred.io/identity': 'wl/builder', 'kube-regcred.io/service-account': 'builder' });
    const secret = await waitFor(async () => {
      const s = await kube.secret(nsD, 'pull-secret');
      return s?.metadata?.annotations?.['kube-regcred.io/last-error'] ? s : undefined;
    }, { description: 'last-error on the Secret' });
    assert.match(secret.metadata!.annotations!['kube-regcred.io/last-error']!, /^TokenRequestForbidden: TokenRequest for ServiceAccount builder in namespace workload-norbac-\w+: HTTP 403: .*workload-identity/);
    await controller.running.controller.idle();
    assert.equal(metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'TokenRequestForbidden' }), 1, 'one attempt, then the long forbidden retry');
    assert.equal(sts.calls.exchange, 0);
  });
});
