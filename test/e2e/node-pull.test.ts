// The consumer of pull secrets is the kubelet: these tests prove kube-regcred where it matters, with a
// real node (kubelet + containerd) pulling Pods' images from a Distribution registry behind
// `kube-regcred sts`, with the Secrets that `kube-regcred controller` (a CLI process under the shipped
// manifests' RBAC) fills and rotates.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { startFullChain, type FullChain } from '../support/full-chain.ts';
import { nodeSkipReason, startNode, type TestNode } from '../support/node.ts';
import { createPod, podEvents, restartContainer, waitForPod } from '../support/pods.ts';
import { logTail } from '../support/process.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { waitFor } from '../support/wait.ts';

const skip = nodeSkipReason();
if (skip) console.log(`# node tests skipped: ${skip}`);

const IDENTITY = 'kube-regcred.io/identity';
const IMAGE = { repository: 'demo/app', tag: '1' };
const UNAUTHORIZED = /401|unauthorized/i;

function tokenIn(secret: V1Secret | undefined, host: string): string | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  return (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> }).auths?.[host]?.password;
}

function expOf(jwt: string): number {
  return (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number }).exp * 1000;
}

function dockerConfigFor(host: string, token: string): string {
  return JSON.stringify({ auths: { [host]: { username: '_token', password: token, auth: Buffer.from(`_token:${token}`).toString('base64') } } });
}

interface PulledRecord {
  imageRef: string;
  credentialMapping?: Record<string, { kubernetesSecrets?: Array<{ uid: string; namespace: string; name: string; credentialHash: string }> }>;
}

function pulledRecords(node: TestNode): PulledRecord[] {
  const dir = join(node.kubeletRootDir, 'image_manager', 'pulled');
  return readdirSync(dir).map((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as PulledRecord);
}

describe('pods on a real node pull with the pull secrets kube-regcred keeps fresh', { skip }, () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let chain: FullChain;
  let node: TestNode;
  let image: string;
  const id = randomUUID().slice(0, 6);
  const ns = `node-e2e-${id}`;
  const denied = `node-e2e-denied-${id}`;
  const tokensSeen: string[] = [];
  const read = (namespace: string, name: string): Promise<V1Secret> => core.readNamespacedSecret({ namespace, name });
  const context = (): string => `\n--- controller log ---\n${logTail(chain.controllerLog, 20)}\n--- kubelet log ---\n${logTail(node.kubeletLog, 20)}`;

  const annotatedPullSecret = async (namespace: string, annotations: Record<string, string> = {}): Promise<void> => {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'pull-secret', annotations: { [IDENTITY]: chain.identities.pull, ...annotations } },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': '{}' },
      },
    });
  };
  const filled = (namespace: string): Promise<V1Secret> =>
    waitFor(async () => {
      const s = await read(namespace, 'pull-secret');
      return tokenIn(s, chain.registry.host) ? s : undefined;
    }, { description: `${namespace}/pull-secret filled`, timeoutMs: 30_000 });

  before(async () => {
    cp = await useControlPlane();
    core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    for (const name of [ns, denied]) {
      await core.createNamespace({ body: { metadata: { name } } });
      // No kube-controller-manager: the ServiceAccounts Pods run as are created here.
      for (const sa of ['default', 'app']) await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: sa } } });
    }
    chain = await startFullChain(cp, {
      exchangeLifetime: '30s',
      registryLifetime: '10s',
      namespaces: [ns, denied],
      identityPolicy: { identities: [{ uid: 'demo-pull', uses: ['pull'], namespaces: [ns] }] },
      // attach-to and the ImagePullBackOff explanation, with the RBAC their shipped components grant.
      overlay: 'attach-to',
      controllerArgs: ['--explain-pull-backoff'],
    });
    assert.equal(chain.identities.pull, 'demo-pull');
    const published = await chain.publish(IMAGE.repository, IMAGE.tag);
    assert.ok(published.ok, `publishing the workload image failed: ${published.stderr}`);
    image = `${chain.registry.host}/${IMAGE.repository}:${IMAGE.tag}`;
    node = await startNode(cp, {
      registries: [chain.registry.host],
      // KEP-2535: the kubelet re-checks credentials even for images already on the node, and records
      // which Secret (coordinates and credential hash) each pull used.
      kubeletConfig: {
        featureGates: { KubeletEnsureSecretPulledImages: true },
        imagePullCredentialsVerificationPolicy: 'AlwaysVerify',
      },
    });
  });

  after(async () => {
    await node?.stop();
    await chain?.stop();
  });

  it('a Pod naming the annotated pull secret pulls its image and runs', async () => {
    await annotatedPullSecret(ns);
    const secret = await filled(ns).catch((err: Error) => assert.fail(err.message + context()));
    tokensSeen.push(tokenIn(secret, chain.registry.host)!);
    await createPod(cp, node, { namespace: ns, name: 'with-secret', image, imagePullSecrets: ['pull-secret'] });
    const outcome = await waitForPod(cp, ns, 'with-secret', 'Running').catch((err: Error) => assert.fail(err.message + context()));
    assert.ok(outcome.events.some((e) => e.reason === 'Pulled'), `no Pulled event: ${JSON.stringify(outcome.events)}`);
  });

  it('without the Secret, or with a wrong token in it, the pull fails with the registry\'s 401', async () => {
    await createPod(cp, node, { namespace: ns, name: 'no-secret', image });
    const anonymous = await waitForPod(cp, ns, 'no-secret', 'PullFailed');
    assert.ok(anonymous.events.some((e) => e.reason === 'Failed' && UNAUTHORIZED.test(e.message)), JSON.stringify(anonymous.events));

    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'wrong-token' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': dockerConfigFor(chain.registry.host, 'not-a-token') } },
    });
    await createPod(cp, node, { namespace: ns, name: 'wrong-token', image, imagePullSecrets: ['wrong-token'] });
    const wrong = await waitForPod(cp, ns, 'wrong-token', 'PullFailed');
    assert.ok(wrong.events.some((e) => e.reason === 'Failed' && UNAUTHORIZED.test(e.message)), JSON.stringify(wrong.events));
  });

  it('after two rotations, with the first token expired, new Pods and restarted containers still pull', async () => {
    const first = tokensSeen[0]!;
    const uidBefore = (await read(ns, 'pull-secret')).metadata!.uid;
    let previous = first;
    for (let rotation = 1; rotation <= 2; rotation++) {
      const rotated = await waitFor(async () => {
        const token = tokenIn(await read(ns, 'pull-secret'), chain.registry.host);
        return token && token !== previous ? token : undefined;
      }, { description: `rotation #${rotation}`, timeoutMs: 45_000 });
      tokensSeen.push(rotated);
      previous = rotated;
    }
    await waitFor(() => Date.now() > expOf(first) + 1000, { description: 'the first token expired', timeoutMs: 45_000 });
    const secret = await read(ns, 'pull-secret');
    assert.equal(secret.metadata!.uid, uidBefore, 'the Secret was patched in place, never re-created');

    await createPod(cp, node, { namespace: ns, name: 'after-rotation', image, imagePullSecrets: ['pull-secret'] });
    const fresh = await waitForPod(cp, ns, 'after-rotation', 'Running').catch((err: Error) => assert.fail(err.message + context()));
    assert.ok(fresh.events.some((e) => e.reason === 'Pulled'), JSON.stringify(fresh.events));

    // imagePullPolicy Always: the kubelet pulls again before it starts the container again.
    const pullCount = async (): Promise<number> =>
      (await podEvents(cp, ns, 'with-secret')).filter((e) => e.reason === 'Pulling').reduce((sum, e) => sum + e.count, 0);
    const pullsBefore = await pullCount();
    const restartsBefore = await restartContainer(cp, ns, 'with-secret');
    await waitFor(async () => {
      const pod = await core.readNamespacedPod({ namespace: ns, name: 'with-secret' });
      const status = pod.status?.containerStatuses?.[0];
      return (status?.restartCount ?? 0) > restartsBefore && status?.state?.running ? true : undefined;
    }, { description: 'the container restarted and running', timeoutMs: 60_000 });
    const pulls = await waitFor(async () => ((await pullCount()) > pullsBefore ? pullCount() : undefined), { description: 'a second pull by the restarted container', timeoutMs: 15_000 });
    assert.ok(pulls > pullsBefore, `the restart pulled again with the rotated Secret (${pullsBefore} → ${pulls} pulls)`);

    // The first token, now expired, in a Secret of its own: the registry's token endpoint refuses it.
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'expired-token' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': dockerConfigFor(chain.registry.host, first) } },
    });
    await createPod(cp, node, { namespace: ns, name: 'expired-token', image, imagePullSecrets: ['expired-token'] });
    const expired = await waitForPod(cp, ns, 'expired-token', 'PullFailed');
    assert.ok(expired.events.some((e) => e.reason === 'Failed' && UNAUTHORIZED.test(e.message)), JSON.stringify(expired.events));
  });

  it('AlwaysVerify: a Pod using the already-pulled image with the rotated Secret starts, and the kubelet records the Secret by its coordinates', async () => {
    const secret = await read(ns, 'pull-secret');
    const mine = (): Array<{ uid: string; credentialHash: string }> =>
      pulledRecords(node).flatMap((r) => Object.values(r.credentialMapping ?? {}).flatMap((m) => m.kubernetesSecrets ?? []))
        .filter((s) => s.namespace === ns && s.name === 'pull-secret');
    const hashesBefore = new Set(mine().map((s) => s.credentialHash));
    assert.ok(mine().every((s) => s.uid === secret.metadata!.uid), 'records name the Secret by namespace, name and UID');
    await createPod(cp, node, { namespace: ns, name: 'verified', image, imagePullSecrets: ['pull-secret'], imagePullPolicy: 'IfNotPresent' });
    const outcome = await waitForPod(cp, ns, 'verified', 'Running').catch((err: Error) => assert.fail(err.message + context()));
    // Verified against the Secret's coordinates: no new pull, the image on the node is used.
    assert.ok(outcome.events.some((e) => e.reason === 'Pulled' && /already present/.test(e.message)), JSON.stringify(outcome.events));
    const after = mine();
    assert.ok(after.length > 0, 'the kubelet recorded the pull secret in its image_manager records');
    // Rotated in place (same UID): the coordinates match and the kubelet took the new credential hash.
    const currentHashes = after.map((s) => s.credentialHash);
    console.log(`# kubelet image_manager records for ${ns}/pull-secret: uid ${after[0]!.uid}, credential hashes ${currentHashes.map((h) => h.slice(0, 12)).join(', ')} (before this Pod: ${hashesBefore.size})`);
  });

  it('attach-to: the next Pod of the ServiceAccount pulls without naming the Secret; the stuck one gets the explanation Event', async () => {
    await createPod(cp, node, { namespace: ns, name: 'early-app', image, serviceAccountName: 'app' });
    await waitForPod(cp, ns, 'early-app', 'PullFailed');
    await core.patchNamespacedSecret({
      namespace: ns,
      name: 'pull-secret',
      body: [{ op: 'add', path: '/metadata/annotations/kube-regcred.io~1attach-to', value: 'app' }],
    });
    await waitFor(async () => {
      const sa = await core.readNamespacedServiceAccount({ namespace: ns, name: 'app' });
      return sa.imagePullSecrets?.some((s) => s.name === 'pull-secret') ? true : undefined;
    }, { description: 'the app ServiceAccount lists pull-secret', timeoutMs: 30_000 }).catch((err: Error) => assert.fail(err.message + context()));
    await createPod(cp, node, { namespace: ns, name: 'late-app', image, serviceAccountName: 'app' });
    const late = await waitForPod(cp, ns, 'late-app', 'Running').catch((err: Error) => assert.fail(err.message + context()));
    assert.equal(late.phase, 'Running');
    const explained = await waitFor(async () => {
      const events = await podEvents(cp, ns, 'early-app');
      return events.find((e) => e.reason === 'PullSecretNotInPod');
    }, { description: 'PullSecretNotInPod on the stuck Pod', timeoutMs: 30_000 }).catch((err: Error) => assert.fail(err.message + context()));
    assert.match(explained.message, /pull-secret/);
  });

  it('a push secret is no image pull secret: the kubelet skips an Opaque Secret, so the pull is anonymous and refused', async () => {
    // A valid push-capable token, in the shape kube-regcred writes push secrets (Opaque, config.json).
    const token = await chain.publisherToken();
    tokensSeen.push(token);
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'push-secret', annotations: { 'kube-regcred.io/access': 'push' } },
        type: 'Opaque',
        stringData: { 'config.json': dockerConfigFor(chain.registry.host, token) },
      },
    });
    await createPod(cp, node, { namespace: ns, name: 'with-push-secret', image, imagePullSecrets: ['push-secret'] });
    // The kubelet reads only kubernetes.io/dockerconfigjson (and dockercfg) Secrets from imagePullSecrets
    // and ignores the rest, so this Pod pulls with no credential at all.
    const outcome = await waitForPod(cp, ns, 'with-push-secret', 'PullFailed');
    assert.ok(outcome.events.some((e) => e.reason === 'Failed' && UNAUTHORIZED.test(e.message)), JSON.stringify(outcome.events));
  });

  it('a namespace outside the identity policy gets no token: its Pod cannot pull, and the Secret\'s Event says why', async () => {
    await annotatedPullSecret(denied);
    const refused = await waitFor(async () => {
      const s = await read(denied, 'pull-secret');
      return s.metadata?.annotations?.['kube-regcred.io/last-error'] ? s : undefined;
    }, { description: 'last-error on the denied Secret', timeoutMs: 30_000 });
    assert.match(refused.metadata!.annotations!['kube-regcred.io/last-error']!, /^NamespaceNotAllowed: /);
    assert.equal(tokenIn(refused, chain.registry.host), undefined, 'no token was written');
    const events = await core.listNamespacedEvent({ namespace: denied, fieldSelector: 'involvedObject.name=pull-secret' });
    assert.ok(events.items.some((e) => e.type === 'Warning' && e.reason === 'NotAllowed'), JSON.stringify(events.items.map((e) => e.reason)));
    await createPod(cp, node, { namespace: denied, name: 'denied', image, imagePullSecrets: ['pull-secret'] });
    const outcome = await waitForPod(cp, denied, 'denied', 'PullFailed');
    assert.ok(outcome.events.some((e) => e.reason === 'Failed' && UNAUTHORIZED.test(e.message)), JSON.stringify(outcome.events));
  });

  it('an identity removed from the sts: Event on the next refresh, the last token kept until exp, then Pods cannot pull', async () => {
    chain.removePullIdentity();
    const failed = await waitFor(async () => {
      const secret = await read(ns, 'pull-secret');
      return /^StsForbidden: /.test(secret.metadata?.annotations?.['kube-regcred.io/last-error'] ?? '') ? secret : undefined;
    }, { description: 'StsForbidden in last-error after the identity was removed', timeoutMs: 45_000 });
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=pull-secret' });
    assert.ok(events.items.some((e) => e.type === 'Warning' && e.reason === 'ExchangeFailed'), JSON.stringify(events.items.map((e) => e.reason)));
    // The Secret keeps the last good token, neither blanked nor replaced: it serves until its exp.
    const last = tokenIn(failed, chain.registry.host);
    assert.ok(last !== undefined, 'the Secret lost its token when the refresh failed');
    tokensSeen.push(last);
    assert.ok(expOf(last) > Date.parse(failed.metadata!.annotations!['kube-regcred.io/refreshed-at']!), 'the kept token outlives its refresh');
    await waitFor(() => Date.now() > expOf(last) + 1000, { description: 'the last token expired', timeoutMs: 45_000 });
    await createPod(cp, node, { namespace: ns, name: 'after-exp', image, imagePullSecrets: ['pull-secret'] });
    const outcome = await waitForPod(cp, ns, 'after-exp', 'PullFailed');
    assert.ok(outcome.events.some((e) => e.reason === 'Failed' && UNAUTHORIZED.test(e.message)), JSON.stringify(outcome.events));
  });

  it('no token appears in the controller\'s or the sts\'s log', () => {
    const logs = readFileSync(chain.controllerLog, 'utf8') + readFileSync(chain.stsLog, 'utf8');
    assert.ok(logs.length > 0, 'the components logged nothing at all');
    for (const token of tokensSeen) {
      assert.ok(!logs.includes(token), 'a registry token appears in a log');
      assert.ok(!logs.includes(token.split('.')[2]!), 'a token signature appears in a log');
    }
  });
});
