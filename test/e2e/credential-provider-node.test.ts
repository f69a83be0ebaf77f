// The credential provider on a real node: kubelet v1.34.4 + containerd of the test bed, its provider
// config pointing at the single executable as shipped (hack/build-credential-provider.ts), Pods pulling
// from a real Distribution registry whose token realm is a real `kube-regcred sts`. The kubelet mints
// the Pods' tokens (TokenRequest under Node authorization + NodeRestriction), runs the plugin, caches its
// answers, and containerd pulls with them. Nothing here stands in for the kubelet.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { EXECUTABLE_NAME } from '../../hack/build-credential-provider.ts';
import { providerRequest, runProvider, shippedProvider, startProviderBed, type ProviderBed } from '../support/credential-provider.ts';
import { nodeSkipReason, startNode, type TestNode } from '../support/node.ts';
import { buildRunnableImage, createPod, deletePod, waitForPod } from '../support/pods.ts';
import type { RegistryProcess } from '../support/registry.ts';
import { startTestSts, type TestSts } from '../support/test-sts.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { waitFor } from '../support/wait.ts';
import { scratchDir } from '../support/scratch.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
/** The audience manifests/credential-provider grants the nodes. */
const AUDIENCE = 'kube-regcred-sts';
const CHAINGUARD_AUDIENCE = 'issuer.enforce.test';
const CHAINGUARD_IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d';
const NS = { allowed: 'provider-node-a', refused: 'provider-node-z', chainguard: 'provider-node-cg' };

let cp: ControlPlane;
let dir: string;
let node: TestNode | undefined;
let registry: RegistryProcess;
let chainguardRegistry: RegistryProcess;
let passthroughRegistry: RegistryProcess;
let bed: ProviderBed;
let testSts: TestSts;
let providerPath: string;

const exchanges = (identity: string): Promise<number> => bed.exchanges(identity);

async function ensureServiceAccount(namespace: string, name: string, annotations?: Record<string, string>): Promise<void> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const ignoreConflict = (err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  };
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(ignoreConflict);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name, ...(annotations ? { annotations } : {}) } } }).catch(ignoreConflict);
}

function kubeletLogSince(offset: number): string {
  return readFileSync(node!.kubeletLog, 'utf8').slice(offset);
}

describe('credential provider on a real kubelet', { skip: nodeSkipReason() }, () => {
  before(async () => {
    cp = await useControlPlane();
    dir = scratchDir('provider-node-');
    const built = await shippedProvider();
    providerPath = built.path;
    const binDir = dirname(built.path);
    // A second provider name for the Chainguard-protocol STS: the kubelet runs <bin dir>/<name>.
    symlinkSync(EXECUTABLE_NAME, join(binDir, `${EXECUTABLE_NAME}-chainguard`));
    // And a third for pass-through: the Pod's own token goes to the registry's /token as the password.
    symlinkSync(EXECUTABLE_NAME, join(binDir, `${EXECUTABLE_NAME}-passthrough`));

    // The node grant users apply (docs/credential-provider.md), as shipped, and the same for the
    // Chainguard-protocol audience, changed as the docs say (the audience is the resource name).
    const kubeconfig = cp.writeKubeconfig('admin');
    await run('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-k', join(ROOT, 'manifests', 'credential-provider')]);
    const { stdout: shipped } = await run('kubectl', ['kustomize', join(ROOT, 'manifests', 'credential-provider')]);
    const chainguardGrant = join(dir, 'chainguard-audience.yaml');
    writeFileSync(chainguardGrant, shipped.replaceAll('kube-regcred-credential-provider-audience', 'kube-regcred-credential-provider-audience-cg').replace(`- ${AUDIENCE}`, `- ${CHAINGUARD_AUDIENCE}`));
    await run('kubectl', ['--kubeconfig', kubeconfig, 'apply', '-f', chainguardGrant]);

    bed = await startProviderBed(cp, dir, {
      audience: AUDIENCE,
      registryCount: 3,
      identities: [
        { uid: `ns/${NS.allowed}`, issuer: 'cluster', subjectPattern: `system:serviceaccount:${NS.allowed}:*`, grants: [{ repository: 'apps/**', actions: ['pull'] }] },
        { uid: 'special', issuer: 'cluster', subject: `system:serviceaccount:${NS.refused}:special`, grants: [{ repository: 'apps/**', actions: ['pull'] }] },
        { uid: 'publisher', issuer: 'cluster', subject: `system:serviceaccount:${NS.allowed}:publisher`, grants: [{ repository: 'apps/**', actions: ['pull', 'push'] }] },
      ],
    });
    [registry, chainguardRegistry, passthroughRegistry] = bed.registries as [RegistryProcess, RegistryProcess, RegistryProcess];
    const stsUrl = bed.stsUrl;

    testSts = await startTestSts({ jwksUrl: `${cp.issuer}/openid/v1/jwks`, caPem: cp.caPem, expectedAudience: CHAINGUARD_AUDIENCE, expectedIssuer: cp.issuer, tokenLifetimeSeconds: 3600, identities: [CHAINGUARD_IDENTITY] });

    await ensureServiceAccount(NS.allowed, 'publisher');
    await ensureServiceAccount(NS.allowed, 'app');
    await ensureServiceAccount(NS.allowed, 'cached');
    await ensureServiceAccount(NS.refused, 'app');
    await ensureServiceAccount(NS.refused, 'special', { 'kube-regcred.io/identity': 'special' });
    await ensureServiceAccount(NS.chainguard, 'app', { 'kube-regcred.io/identity': CHAINGUARD_IDENTITY });

    // The image, pushed with a credential the shipped provider issued to the publisher ServiceAccount.
    const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    const publisherToken = (await core.createNamespacedServiceAccountToken({ name: 'publisher', namespace: NS.allowed, body: { spec: { audiences: [AUDIENCE], expirationSeconds: 600 } } })).status!.token!;
    const pushArgs = ['credential-provider', '--issuer-url', stsUrl, '--audience', AUDIENCE];
    const image = buildRunnableImage(mkdtempSync(join(dir, 'image-')));
    for (const target of [registry, chainguardRegistry, passthroughRegistry]) {
      const issued = await runProvider(providerPath, pushArgs, providerRequest(`${target.host}/apps/web`, publisherToken, { 'kube-regcred.io/identity': 'publisher' }));
      assert.equal(issued.code, 0, issued.stderr);
      await bed.pushWith(issued.stdout, target.host, image, 'apps/web:v1');
    }

    const tokenAttributes = (audience: string) => ({
      serviceAccountTokenAudience: audience,
      requireServiceAccount: true,
      cacheType: 'ServiceAccount',
      optionalServiceAccountAnnotationKeys: ['kube-regcred.io/identity', 'kube-regcred.io/registry'],
    });
    node = await startNode(cp, {
      registries: [registry.host, chainguardRegistry.host, passthroughRegistry.host],
      credentialProvider: {
        binDir,
        config: {
          apiVersion: 'kubelet.config.k8s.io/v1',
          kind: 'CredentialProviderConfig',
          providers: [
            {
              name: EXECUTABLE_NAME,
              apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
              matchImages: [registry.host],
              defaultCacheDuration: '1m',
              args: ['--issuer-url', stsUrl, '--audience', AUDIENCE, '--identity-template', 'ns/{namespace}'],
              tokenAttributes: tokenAttributes(AUDIENCE),
            },
            {
              name: `${EXECUTABLE_NAME}-chainguard`,
              apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
              matchImages: [chainguardRegistry.host],
              defaultCacheDuration: '1m',
              env: [{ name: 'KUBE_REGCRED_ISSUER_URL', value: testSts.url }, { name: 'KUBE_REGCRED_AUDIENCE', value: CHAINGUARD_AUDIENCE }],
              tokenAttributes: tokenAttributes(CHAINGUARD_AUDIENCE),
            },
            {
              name: `${EXECUTABLE_NAME}-passthrough`,
              apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
              matchImages: [passthroughRegistry.host],
              defaultCacheDuration: '1m',
              // The sts's issuer entry for the cluster is named `cluster`: the Basic username of a raw OIDC JWT.
              args: ['--mode', 'passthrough', '--audience', AUDIENCE, '--passthrough-username', 'cluster'],
              // The kubelet takes its own token back as a password only when it caches per token.
              tokenAttributes: { ...tokenAttributes(AUDIENCE), cacheType: 'Token' },
            },
          ],
        },
      },
    });
  });

  after(async () => {
    await node?.stop();
    await testSts?.stop();
    await bed?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a ServiceAccount the sts allows pulls its image with no imagePullSecrets', async () => {
    await createPod(cp, node!, { namespace: NS.allowed, name: 'web', image: `${registry.host}/apps/web:v1`, serviceAccountName: 'app', imagePullPolicy: 'Always' });
    const pod = await waitForPod(cp, NS.allowed, 'web', 'Running', 60_000);
    assert.equal(pod.phase, 'Running', JSON.stringify(pod.events));
    await deletePod(cp, NS.allowed, 'web');
  });

  test('the kubelet caches our answer: 5 Pods of one ServiceAccount cost one plugin run and one exchange', async () => {
    const identity = `ns/${NS.allowed}`;
    const before = await exchanges(identity);
    const offset = readFileSync(node!.kubeletLog, 'utf8').length;
    for (let i = 0; i < 5; i++) {
      await createPod(cp, node!, { namespace: NS.allowed, name: `cached-${i}`, image: `${registry.host}/apps/web:v1`, serviceAccountName: 'cached', imagePullPolicy: 'Always' });
      const pod = await waitForPod(cp, NS.allowed, `cached-${i}`, 'Running', 60_000);
      assert.equal(pod.phase, 'Running', JSON.stringify(pod.events));
    }
    // Every plugin run either fails (the kubelet logs it: none here) or exchanges exactly once, so the
    // sts's exchange count is the number of plugin runs.
    assert.doesNotMatch(kubeletLogSince(offset), /kube-regcred credential-provider:/, 'no failed plugin run');
    assert.equal((await exchanges(identity)) - before, 1, 'one plugin run (and exchange) for 5 Pods of one ServiceAccount');
    for (let i = 0; i < 5; i++) await deletePod(cp, NS.allowed, `cached-${i}`);
  });

  test('a ServiceAccount of a refused namespace gets ErrImagePull; the kubelet logs our one-line reason', async () => {
    const offset = readFileSync(node!.kubeletLog, 'utf8').length;
    await createPod(cp, node!, { namespace: NS.refused, name: 'web', image: `${registry.host}/apps/web:v1`, serviceAccountName: 'app', imagePullPolicy: 'Always' });
    const pod = await waitForPod(cp, NS.refused, 'web', 'PullFailed', 60_000);
    assert.ok(pod.events.some((e) => /ErrImagePull|Failed/.test(e.reason) && /401|nauthorized/.test(e.message)), `a 401 pull failure in the Events: ${JSON.stringify(pod.events)}`);
    // The kubelet (1.34) logs a plugin failure and pulls without its credential; the reason is in its log.
    await waitFor(() => /kube-regcred credential-provider: StsForbidden: STS answered 403/.test(kubeletLogSince(offset)), { timeoutMs: 10_000, description: 'our reason in the kubelet log' });
    await deletePod(cp, NS.refused, 'web');
  });

  test('in that namespace, a ServiceAccount annotated with an identity bound to it pulls (the kubelet passes the annotation)', async () => {
    await createPod(cp, node!, { namespace: NS.refused, name: 'special', image: `${registry.host}/apps/web:v1`, serviceAccountName: 'special', imagePullPolicy: 'Always' });
    const pod = await waitForPod(cp, NS.refused, 'special', 'Running', 60_000);
    assert.equal(pod.phase, 'Running', JSON.stringify(pod.events));
    assert.ok((await exchanges('special')) >= 1, 'exchanged for the annotated identity');
    await deletePod(cp, NS.refused, 'special');
  });

  test('with the Chainguard-protocol STS, a ServiceAccount annotated kube-regcred.io/identity is exchanged for that identity', async () => {
    const before = testSts.calls.byIdentity.get(CHAINGUARD_IDENTITY) ?? 0;
    const subject = `system:serviceaccount:${NS.chainguard}:app`;
    const subjectBefore = testSts.calls.bySubject.get(subject) ?? 0;
    const issuedBefore = testSts.calls.issued;
    const offset = readFileSync(node!.kubeletLog, 'utf8').length;
    await createPod(cp, node!, { namespace: NS.chainguard, name: 'web', image: `${chainguardRegistry.host}/apps/web:v1`, serviceAccountName: 'app', imagePullPolicy: 'Always' });
    // The test STS counts the identity as a request arrives, the subject once its token is verified and
    // the issued token once it is signed (each after an await): waiting for fewer than all three raced
    // the rest on a busy machine.
    await waitFor(
      () =>
        (testSts.calls.byIdentity.get(CHAINGUARD_IDENTITY) ?? 0) > before &&
        (testSts.calls.bySubject.get(subject) ?? 0) > subjectBefore &&
        testSts.calls.issued > issuedBefore,
      { timeoutMs: 60_000, description: 'a registry token issued by the test STS for the Pod ServiceAccount token the kubelet minted' },
    );
    assert.doesNotMatch(kubeletLogSince(offset), /kube-regcred credential-provider:/, 'the plugin did not fail');
    // The test STS's tokens are not signed by a key this Distribution registry trusts (it has no /token
    // of its own), so the pull itself ends at the registry: the exchange is what this case proves.
    await deletePod(cp, NS.chainguard, 'web');
  });

  test('pass-through: the Pod token itself is the password; the sts maps it to the identity of its subject, and a refused namespace gets 401', async () => {
    const identity = `ns/${NS.allowed}`;
    const exchangesBefore = await exchanges(identity);
    await createPod(cp, node!, { namespace: NS.allowed, name: 'passthrough', image: `${passthroughRegistry.host}/apps/web:v1`, serviceAccountName: 'app', imagePullPolicy: 'Always' });
    const pod = await waitForPod(cp, NS.allowed, 'passthrough', 'Running', 60_000);
    assert.equal(pod.phase, 'Running', JSON.stringify(pod.events));
    assert.equal(await exchanges(identity), exchangesBefore, 'no /sts/exchange: the registry took the ServiceAccount token on /token');
    await createPod(cp, node!, { namespace: NS.refused, name: 'passthrough', image: `${passthroughRegistry.host}/apps/web:v1`, serviceAccountName: 'app', imagePullPolicy: 'Always' });
    const refused = await waitForPod(cp, NS.refused, 'passthrough', 'PullFailed', 60_000);
    assert.ok(refused.events.some((e) => /401|nauthorized/.test(e.message)), JSON.stringify(refused.events));
    await deletePod(cp, NS.allowed, 'passthrough');
    await deletePod(cp, NS.refused, 'passthrough');
  });

  test('sts down: the kubelet logs our reason and the Pod fails; once the sts is back the next pull works', async () => {
    await bed.stopSts();
    const offset = readFileSync(node!.kubeletLog, 'utf8').length;
    // A new ServiceAccount: nothing cached by the kubelet for it.
    await ensureServiceAccount(NS.allowed, 'outage');
    await createPod(cp, node!, { namespace: NS.allowed, name: 'outage', image: `${registry.host}/apps/web:v1`, serviceAccountName: 'outage', imagePullPolicy: 'Always' });
    const failed = await waitForPod(cp, NS.allowed, 'outage', 'PullFailed', 60_000);
    assert.equal(failed.phase, 'Pending');
    await waitFor(() => /kube-regcred credential-provider: StsUnreachable: STS unreachable \(ECONNREFUSED\)/.test(kubeletLogSince(offset)), { timeoutMs: 10_000, description: 'our reason in the kubelet log' });
    await bed.startSts();
    // The kubelet's image pull backoff retries (10 s, then 20 s, ...), running the plugin again.
    // (waitForPod gives up on a Pod that is backing off: poll the phase instead.)
    const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    await waitFor(async () => (await core.readNamespacedPod({ namespace: NS.allowed, name: 'outage' })).status?.phase === 'Running', { timeoutMs: 90_000, description: 'Pod outage Running after the sts is back' });
    await deletePod(cp, NS.allowed, 'outage');
  });
});
