// The token service against a bed where issuer discovery is NOT public (no binding for
// system:unauthenticated): discovery works with the sts's own ServiceAccount token (bearerTokenFile)
// and fails without it; with `tokenReview: true` a token bound to a Secret is refused within seconds of
// the Secret's deletion, while JWKS-only verification accepts it until its exp.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { startStsProcess, type RunningSts } from '../../src/cmd/sts.ts';
import { startControlPlane, type OwnedControlPlane } from '../support/control-plane.ts';
import { captureLogs, createSigningMaterial } from '../unit/sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const SERVICE = 'registry.review.test';
const AUDIENCE = 'kube-regcred-sts';
const NS = 'review';
const logs = captureLogs();
const secrets: string[] = [];
let cp: OwnedControlPlane;
let work: string;
let core: CoreV1Api;
let stsTokenFile: string;
let stsKubeconfig: string;

async function tokenFor(serviceAccount: string, audiences: string[], boundSecret?: { name: string; uid: string }): Promise<string> {
  const issued = await core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace: NS,
    body: { spec: { audiences, expirationSeconds: 600, ...(boundSecret ? { boundObjectRef: { kind: 'Secret', apiVersion: 'v1', ...boundSecret } } : {}) } },
  });
  const token = issued.status!.token!;
  secrets.push(token);
  return token;
}

async function startSts(name: string, issuer: Record<string, unknown>): Promise<RunningSts> {
  const signing = createSigningMaterial('ec', mkdtempSync(join(work, 'pki-')));
  const path = join(work, `${name}.yaml`);
  writeFileSync(
    path,
    toYaml({
      service: SERVICE,
      tokenIssuer: 'kube-regcred-sts-review',
      signing: { keyFile: signing.leaf.keyFile, certificateFile: signing.leaf.certFile },
      issuers: [{ name: 'cluster', issuer: cp.issuer, audiences: [AUDIENCE], caFile: cp.caFile, ...issuer }],
      identities: [{ uid: 'app', issuer: 'cluster', subject: `system:serviceaccount:${NS}:app`, grants: [{ repository: 'apps/**', actions: ['pull'] }] }],
    }),
  );
  return startStsProcess(
    { configPath: path, listen: { host: '127.0.0.1', port: 0 }, ops: { host: '127.0.0.1', port: 0 }, shutdownGraceMs: 1_000, logLevel: 'debug', kubeconfig: stsKubeconfig },
    { logDestination: logs.stream, watch: { pollIntervalMs: 0 } },
  );
}

async function exchange(sts: RunningSts, jwt: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=app`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
  return { status: res.status, body: await res.text() };
}

before(async () => {
  cp = await startControlPlane({ publicIssuerDiscovery: false });
  cp.releaseAtExit();
  work = scratchDir('sts-review-');
  const admin = cp.kubeConfig('admin');
  core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  for (const name of ['app', 'sts']) await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name } } });
  // The grants of manifests/components/sts/sts-rbac.yaml, for this bed's sts ServiceAccount.
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'review-sts-discovery' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
      subjects: [{ kind: 'ServiceAccount', name: 'sts', namespace: NS }],
    },
  });
  await rbac.createClusterRole({ body: { metadata: { name: 'review-sts-token-review' }, rules: [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }] } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'review-sts-token-review' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'review-sts-token-review' },
      subjects: [{ kind: 'ServiceAccount', name: 'sts', namespace: NS }],
    },
  });
  // The sts's own token, with the apiserver's audience, as the projected volume of the Deployment holds it.
  const stsToken = await tokenFor('sts', [cp.issuer]);
  stsTokenFile = join(work, 'sts-token');
  writeFileSync(stsTokenFile, stsToken, { mode: 0o600 });
  stsKubeconfig = cp.writeKubeconfig({ token: stsToken, name: 'sts' });
});

after(async () => {
  rmSync(work, { recursive: true, force: true });
  for (const secret of secrets) assert.ok(!logs.text().includes(secret), 'a token reached the logs');
  await cp.stop();
});

test('this bed refuses anonymous discovery; the sts reads it with its ServiceAccount token', async () => {
  const jwt = await tokenFor('app', [AUDIENCE]);
  const withoutCredentials = await startSts('anonymous', {});
  try {
    const answer = await exchange(withoutCredentials, jwt);
    assert.equal(answer.status, 503, `anonymous discovery should fail on this bed, got ${answer.status} ${answer.body}`);
  } finally {
    await withoutCredentials.stop();
  }
  const sts = await startSts('bearer', { bearerTokenFile: stsTokenFile });
  try {
    const answer = await exchange(sts, jwt);
    assert.equal(answer.status, 200, `discovery with the sts's token: expected 200, got ${answer.status} ${answer.body}`);
  } finally {
    await sts.stop();
  }
});

test('a token bound to a deleted Secret: refused within seconds with tokenReview, accepted until exp with JWKS only', async (t) => {
  const secret = await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'bound' }, type: 'Opaque' } });
  const jwt = await tokenFor('app', [AUDIENCE], { name: 'bound', uid: secret.metadata!.uid! });
  const reviewing = await startSts('review', { bearerTokenFile: stsTokenFile, tokenReview: true });
  const jwksOnly = await startSts('jwks-only', { bearerTokenFile: stsTokenFile });
  try {
    assert.equal((await exchange(reviewing, jwt)).status, 200, 'bound token accepted while its Secret exists');
    assert.equal((await exchange(jwksOnly, jwt)).status, 200);
    await core.deleteNamespacedSecret({ name: 'bound', namespace: NS });
    const deletedAt = Date.now();
    let refusedAfterMs: number | undefined;
    while (Date.now() - deletedAt < 20_000) {
      const answer = await exchange(reviewing, jwt);
      if (answer.status === 401) {
        refusedAfterMs = Date.now() - deletedAt;
        assert.match(answer.body, /CredentialInvalid/);
        break;
      }
      assert.equal(answer.status, 200, `unexpected ${answer.status} ${answer.body}`);
      await sleep(200);
    }
    // The apiserver itself caches a successful token authentication for 10 s (kube-apiserver's
    // TokenSuccessCacheTTL, not configurable), our answers live 3 s at most: 13 s is the bound.
    assert.ok(refusedAfterMs !== undefined && refusedAfterMs <= 14_000, `expected a refusal within 14 s of the deletion, got ${refusedAfterMs ?? 'none in 20 s'}`);
    t.diagnostic(`refused ${refusedAfterMs} ms after the Secret was deleted`);
    // Without TokenReview the signature is all there is: still valid (documented; keep such tokens short).
    assert.equal((await exchange(jwksOnly, jwt)).status, 200, 'JWKS-only verification accepts the token until its exp');
    // An unbound token of the same ServiceAccount is still fine with TokenReview on.
    assert.equal((await exchange(reviewing, await tokenFor('app', [AUDIENCE]))).status, 200);
  } finally {
    await reviewing.stop();
    await jwksOnly.stop();
  }
});
