// The image built from the Dockerfile, deployed by the shipped overlays as a user deploys them: a control
// plane of this file's own with kube-controller-manager and kube-scheduler, a real node with a pod network,
// the image pushed to a bed registry and substituted by kustomize's `images:`. What is checked is what the
// kernel and the apiserver see: the Pod scheduled and Ready through its probes, its process's UID, root
// mount and capabilities, the projected token it authenticates with, the Secret it fills, and a workload
// Pod pulling with that Secret. Then the sts overlay: the sts Pods as the token realm of a registry, and
// its controller filling a Secret through the sts Service for a Pod that pulls from that registry.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { AppsV1Api, AuthenticationV1Api, CoordinationV1Api, CoreV1Api, type V1Pod, type V1Secret } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { startClusterControllers, type ClusterControllers } from '../support/cluster-controllers.ts';
import { containerPids, processFacts, readInContainer, type ProcessFacts } from '../support/container-process.ts';
import { KUBERNETES_SERVICE_IP, startControlPlane, type OwnedControlPlane } from '../support/control-plane.ts';
import { ensureImage, pushImage } from '../support/image.ts';
import { kubeIptablesChains } from '../support/node-host.ts';
import { nodeSkipReason, startNode, type TestNode } from '../support/node.ts';
import { podNetworkLeftovers, podNetworkSkipReason } from '../support/pod-network.ts';
import { createCertificateAuthority, issueCertificate } from '../support/pki.ts';
import { buildRunnableImage, podEvents } from '../support/pods.ts';
import { freePort } from '../support/ports.ts';
import { logTail } from '../support/process.ts';
import { startRegistry, type RegistryProcess } from '../support/registry.ts';
import { skopeoCopy, writeAuthfile } from '../support/skopeo.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { PUBLISHER, serviceAccountToken, startTokenRegistry, STS_AUDIENCE, type TokenRegistry } from '../support/token-registry.ts';
import { waitFor } from '../support/wait.ts';
import { scratchDir } from '../support/scratch.ts';

const run = promisify(execFile);
const skip = nodeSkipReason() ?? podNetworkSkipReason();
if (skip) console.log(`# shipped-image tests skipped: ${skip}`);

const OVERLAYS = join(import.meta.dirname, '..', '..', 'manifests', 'overlays');
const NAMESPACE = 'kube-regcred';
const IMAGE_REPOSITORY = 'kube-regcred/kube-regcred';
const IMAGE_TAG = 'e2e';
const WORKLOAD = { repository: 'demo/app', tag: '1' };
const MiB = 1024 * 1024;
const IDENTITY = 'kube-regcred.io/identity';
/** The sts Service's ClusterIP, pinned by the test's overlay: the controller's hostAliases name it. */
const STS_SERVICE_IP = '10.96.0.80';

function tokenIn(secret: V1Secret | undefined, host: string): string | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  return (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> }).auths?.[host]?.password;
}

function dockerConfigFor(host: string, token: string): string {
  return JSON.stringify({ auths: { [host]: { username: '_token', password: token, auth: Buffer.from(`_token:${token}`).toString('base64') } } });
}

/** The image names the shipped overlay deploys, without tag or digest: what `images:` must match. */
async function shippedImageNames(overlay: string): Promise<string[]> {
  const { stdout } = await run('kubectl', ['kustomize', join(OVERLAYS, overlay)]);
  const refs = [...stdout.matchAll(/^\s+image:\s*(\S+)\s*$/gm)].map((m) => m[1]!);
  return [...new Set(refs.map((ref) => ref.replace(/@.*$/, '').replace(/:[^/:]*$/, '')))];
}

describe('the image built from the Dockerfile runs as the shipped overlays deploy it, on a real node', { skip }, () => {
  let cp: OwnedControlPlane;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let controllers: ClusterControllers;
  let node: TestNode;
  let imageRegistry: RegistryProcess;
  let tokens: TokenRegistry;
  let image: string;
  let controllerPod: V1Pod;
  let controllerFacts: ProcessFacts;
  let chainsBefore: string[];
  const overlayDirs: string[] = [];
  const extraStops: Array<() => Promise<void>> = [];
  const id = randomUUID().slice(0, 6);
  const appNs = `app-${id}`;
  const stsAppNs = `app-sts-${id}`;
  const timings: Record<string, number> = {};

  const context = (): string =>
    `\n--- kubelet ---\n${logTail(node.kubeletLog, 15)}\n--- kube-controller-manager ---\n${logTail(controllers.controllerManagerLog, 10)}\n--- kube-scheduler ---\n${logTail(controllers.schedulerLog, 10)}`;

  /** A kustomization of the test's own over a shipped overlay: the image replaced, plus `extra`. */
  async function applyOverlay(overlay: string, extra: Record<string, unknown>, files: Record<string, string> = {}): Promise<void> {
    const dir = scratchDir('kube-regcred-overlay-');
    overlayDirs.push(dir);
    const images = (await shippedImageNames(overlay)).map((name) => ({ name, newName: `${imageRegistry.host}/${IMAGE_REPOSITORY}`, newTag: IMAGE_TAG }));
    for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [relative(dir, join(OVERLAYS, overlay))], images, ...extra }),
    );
    await run('kubectl', ['--kubeconfig', cp.writeKubeconfig('admin'), 'apply', '--server-side', '--field-manager=kube-regcred-e2e', '-k', dir]);
  }

  /** The Ready Pods of a component, once there are `count` of them (and no other). */
  async function readyPods(component: string, count: number, timeoutMs = 120_000, current: (pod: V1Pod) => boolean = () => true): Promise<V1Pod[]> {
    return waitFor(async () => {
      const pods = (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app.kubernetes.io/component=${component}` })).items
        .filter((p) => !p.metadata?.deletionTimestamp && current(p));
      const ready = pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === count && pods.length === count ? ready : undefined;
    }, { description: `${count} Ready ${component} Pod(s) in ${NAMESPACE}`, timeoutMs, intervalMs: 250 }).catch((err: Error) => assert.fail(err.message + context()));
  }

  function mainProcess(pod: V1Pod): number {
    const containerId = pod.status?.containerStatuses?.[0]?.containerID;
    assert.ok(containerId, `Pod ${pod.metadata?.name} has no container ID`);
    const pids = containerPids(containerId);
    assert.ok(pids.length > 0, `no process of container ${containerId} on the host`);
    return pids[0]!;
  }

  function assertHardened(facts: ProcessFacts, what: string): void {
    assert.deepEqual(facts.uids, [65532, 65532, 65532, 65532], `${what}: UIDs`);
    assert.deepEqual(facts.gids, [65532, 65532, 65532, 65532], `${what}: GIDs`);
    assert.ok(facts.rootMountOptions.includes('ro'), `${what}: / is mounted ${facts.rootMountOptions.join(',')}`);
    assert.equal(BigInt(`0x${facts.capEff}`), 0n, `${what}: effective capabilities ${facts.capEff}`);
    assert.ok(facts.noNewPrivs, `${what}: no_new_privs (allowPrivilegeEscalation: false)`);
    assert.equal(facts.seccompMode, 2, `${what}: a seccomp filter (RuntimeDefault)`);
  }

  /** A Deployment of a workload image in the app namespace, scheduled like any other (no nodeName). */
  async function deployWorkload(namespace: string, name: string, image: string, pullSecret: string): Promise<V1Pod> {
    await apps.createNamespacedDeployment({
      namespace: namespace,
      body: {
        metadata: { name },
        spec: {
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: { terminationGracePeriodSeconds: 0, imagePullSecrets: [{ name: pullSecret }], containers: [{ name: 'main', image, imagePullPolicy: 'Always' }] },
          },
        },
      },
    });
    return waitFor(async () => {
      const pod = (await core.listNamespacedPod({ namespace: namespace, labelSelector: `app=${name}` })).items[0];
      const waiting = pod?.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      if (waiting === 'ErrImagePull' || waiting === 'ImagePullBackOff') {
        const events = await podEvents(cp, namespace, pod!.metadata!.name!);
        throw new Error(`${name}: ${waiting}: ${events.map((e) => e.message).join('; ')}`);
      }
      return pod?.status?.phase === 'Running' ? pod : undefined;
    }, { description: `the ${name} Pod running`, timeoutMs: 90_000, intervalMs: 250 }).catch((err: Error) => assert.fail(err.message + context()));
  }

  before(async () => {
    const start = Date.now();
    chainsBefore = kubeIptablesChains();
    let archive: string;
    // The image build (a cache hit when nothing changed) overlaps the control plane's start.
    [archive, cp] = await Promise.all([ensureImage(), startControlPlane({ issuer: `https://${KUBERNETES_SERVICE_IP}` })]);
    cp.releaseAtExit();
    timings.imageAndControlPlane = Date.now() - start;
    core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    apps = cp.kubeConfig('admin').makeApiClient(AppsV1Api);
    controllers = await startClusterControllers(cp);
    // fromHost: the sts on the host reads the issuer at the ClusterIP; containerd follows a realm at a Service IP.
    node = await startNode(cp, { podNetwork: { fromHost: true } });
    timings.node = Date.now() - start;
    imageRegistry = await startRegistry({ auth: 'none' });
    node.addRegistry(imageRegistry.host);
    await pushImage(archive, imageRegistry.host, `${IMAGE_REPOSITORY}:${IMAGE_TAG}`);
    timings.pushed = Date.now() - start;
    // After the node: the sts on the host reads the issuer's discovery at the ClusterIP, which the
    // node's pod network routes to the apiserver.
    tokens = await startTokenRegistry(cp, { exchangeLifetime: '10m', registryLifetime: '5m' });
    node.addRegistry(tokens.registry.host);
    const published = await tokens.publish(WORKLOAD.repository, WORKLOAD.tag);
    assert.ok(published.ok, `publishing the workload image failed: ${published.stderr}`);
    image = `${tokens.registry.host}/${WORKLOAD.repository}:${WORKLOAD.tag}`;
  });

  after(async () => {
    for (const stop of extraStops.reverse()) await stop().catch(() => undefined);
    await node?.stop();
    await tokens?.stop();
    await imageRegistry?.stop();
    await controllers?.stop();
    await cp?.stop();
    for (const dir of overlayDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('default overlay: the Deployment becomes a ReplicaSet and a Pod the scheduler binds to the node, Ready through its probes', async () => {
    const start = Date.now();
    // The only change beyond the image: the controller points at the bed's sts and registry, as the
    // Deployment's own comment tells a user to ("point these at your own `kube-regcred sts`"). Pods reach
    // the host's loopback sts at the pod network's gateway.
    const stsForPods = await node.podNetwork!.expose(Number(new URL(tokens.stsUrl).port));
    const env = { KUBE_REGCRED_ISSUER_URL: `http://${stsForPods}`, KUBE_REGCRED_AUDIENCE: STS_AUDIENCE, KUBE_REGCRED_DEFAULT_REGISTRY: tokens.registry.host };
    await applyOverlay('default', {
      patches: [{
        patch: stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'kube-regcred', namespace: NAMESPACE },
          spec: { template: { spec: { containers: [{ name: 'controller', env: Object.entries(env).map(([name, value]) => ({ name, value })) }] } } },
        }),
      }],
    });
    controllerPod = (await readyPods('controller', 1))[0]!;
    timings.controllerReady = Date.now() - start;
    const pod = controllerPod;
    const rs = pod.metadata?.ownerReferences?.find((o) => o.kind === 'ReplicaSet');
    assert.ok(rs, 'the Pod is owned by a ReplicaSet');
    const replicaSet = await apps.readNamespacedReplicaSet({ namespace: NAMESPACE, name: rs.name });
    assert.equal(replicaSet.metadata?.ownerReferences?.find((o) => o.kind === 'Deployment')?.name, 'kube-regcred');
    assert.equal(pod.spec?.nodeName, node.name, 'bound to the bed node by the scheduler');
    const events = await podEvents(cp, NAMESPACE, pod.metadata!.name!);
    assert.ok(events.some((e) => e.reason === 'Scheduled'), JSON.stringify(events));
    assert.ok(events.some((e) => e.reason === 'Pulled'), 'the kubelet pulled the image from the bed registry');
    assert.equal(pod.spec?.containers[0]?.image, `${imageRegistry.host}/${IMAGE_REPOSITORY}:${IMAGE_TAG}`);
    // On the pod network, not the host's: its probes and its ops port at its own address.
    assert.equal(pod.spec?.hostNetwork ?? false, false);
    assert.ok(pod.status?.podIP?.startsWith(node.podNetwork!.gateway.replace(/\.1$/, '.')), `Pod IP ${pod.status?.podIP} in ${node.podNetwork!.subnet}`);
    const container = pod.spec!.containers[0]!;
    assert.equal(container.readinessProbe?.httpGet?.path, '/readyz');
    assert.equal(container.livenessProbe?.httpGet?.path, '/healthz');
    for (const path of ['/readyz', '/healthz']) {
      const res = await fetch(`http://${pod.status!.podIP}:8080${path}`, { signal: AbortSignal.timeout(2000) });
      assert.equal(res.status, 200, `${path} at the Pod's address`);
    }
  });

  it('the controller process runs as 65532:65532 on a read-only root, with no capability, no privilege escalation, RuntimeDefault seccomp and the shipped memory limit', () => {
    controllerFacts = processFacts(mainProcess(controllerPod));
    assertHardened(controllerFacts, 'controller');
    assert.equal(controllerFacts.memoryCgroup?.limitBytes, 256 * MiB, 'the container\'s memory cgroup has the shipped 256Mi limit');
  });

  it('authenticates in-cluster with its projected ServiceAccount token, and holds the shipped Lease', async () => {
    const facts = controllerFacts;
    assert.ok(!facts.argv.includes('--kubeconfig') && facts.environ.KUBECONFIG === undefined, `no kubeconfig: ${facts.argv.join(' ')}`);
    assert.equal(facts.environ.KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_IP);
    assert.equal(facts.environ.KUBERNETES_SERVICE_PORT, '443');
    const pid = mainProcess(controllerPod);
    const token = readInContainer(pid, '/var/run/secrets/kubernetes.io/serviceaccount/token');
    assert.equal(readInContainer(pid, '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt').trim(), cp.caPem.trim(), 'kube-root-ca.crt holds the bed\'s CA');
    const review = await cp.kubeConfig('admin').makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token } } });
    assert.equal(review.status?.authenticated, true, review.status?.error);
    assert.equal(review.status?.user?.username, 'system:serviceaccount:kube-regcred:kube-regcred');
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name'], [controllerPod.metadata!.name]);
    const lease = await waitFor(async () => {
      const l = await cp.kubeConfig('admin').makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: NAMESPACE, name: 'kube-regcred-controller' });
      return l.spec?.holderIdentity ? l : undefined;
    }, { description: 'the kube-regcred-controller Lease held', timeoutMs: 30_000 });
    assert.ok(lease.spec!.holderIdentity!.startsWith(`${controllerPod.metadata!.name}_`), `holder ${lease.spec!.holderIdentity}`);
  });

  it('a new namespace gets its ServiceAccount and kube-root-ca.crt on its own; the controller fills its annotated Secret and a workload Pod pulls with it', async () => {
    await core.createNamespace({ body: { metadata: { name: appNs } } });
    await waitFor(async () => {
      const sa = await core.readNamespacedServiceAccount({ namespace: appNs, name: 'default' }).then(() => true, () => false);
      const ca = await core.readNamespacedConfigMap({ namespace: appNs, name: 'kube-root-ca.crt' }).then((cm) => cm.data?.['ca.crt'] === cp.caPem, () => false);
      return sa && ca;
    }, { description: `default ServiceAccount and kube-root-ca.crt in ${appNs}`, timeoutMs: 30_000 });
    await core.createNamespacedSecret({
      namespace: appNs,
      body: {
        metadata: { name: 'pull-secret', annotations: { [IDENTITY]: tokens.identities.pull } },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': '{}' },
      },
    });
    const secret = await waitFor(async () => {
      const s = await core.readNamespacedSecret({ namespace: appNs, name: 'pull-secret' });
      return tokenIn(s, tokens.registry.host) ? s : undefined;
    }, { description: `${appNs}/pull-secret filled by the controller Pod`, timeoutMs: 60_000 }).catch((err: Error) => assert.fail(err.message + context()));
    assert.ok(tokenIn(secret, tokens.registry.host));
    const workload = await deployWorkload(appNs, 'app', image, 'pull-secret');
    assert.equal(workload.spec?.nodeName, node.name);
    const events = await podEvents(cp, appNs, workload.metadata!.name!);
    assert.ok(events.some((e) => e.reason === 'Pulled'), JSON.stringify(events));
  });

  it('the controller Pod\'s memory, from its process and its cgroup', () => {
    const facts = processFacts(mainProcess(controllerPod));
    const cgroup = facts.memoryCgroup!;
    console.log(
      `# controller Pod memory: process RSS ${(facts.rssBytes / MiB).toFixed(1)} MiB (anonymous ${(facts.rssAnonBytes / MiB).toFixed(1)} MiB), cgroup rss ${(cgroup.rssBytes / MiB).toFixed(1)} MiB, ` +
        `cgroup usage ${(cgroup.usageBytes / MiB).toFixed(1)} MiB (limit ${cgroup.limitBytes / MiB} MiB); one managed Secret`,
    );
    assert.ok(facts.rssBytes > 10 * MiB && facts.rssBytes < cgroup.limitBytes, `RSS ${facts.rssBytes}`);
  });

  it('sts overlay: the sts Pods are Ready and hardened; the controller exchanges at the sts Service, and a Pod pulls from a registry whose realm it is', async () => {
    const start = Date.now();
    const pki = createCertificateAuthority(scratchDir('kube-regcred-sts-pki-'), 'kube-regcred sts signing CA (e2e)');
    extraStops.push(async () => rmSync(pki.dir, { recursive: true, force: true }));
    const signer = issueCertificate(pki, { commonName: 'kube-regcred-sts' });
    // The signing Secret the README has the user create.
    await core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: { metadata: { name: 'kube-regcred-sts-signing' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': signer.certPem, 'tls.key': signer.keyPem } },
    });
    // The registry's name is its loopback address, so its port is chosen now: the sts configuration and
    // the controller name it, and the registry starts once the sts Service forwards (its realm).
    const registryPort = await freePort();
    const registryHost = `127.0.0.1:${registryPort}`;
    // The shipped config.yaml, edited where its comments tell a user to: the registry's name, the realm,
    // the cluster's issuer (read with `kubectl get --raw /.well-known/openid-configuration`), and one more
    // identity (a publisher, to push the workload image). The shipped cluster-pull identity stays as is.
    const shipped = parse(readFileSync(join(OVERLAYS, '..', 'components', 'sts', 'config.yaml'), 'utf8')) as Record<string, unknown> & {
      issuers: Array<Record<string, unknown>>;
      identities: Array<Record<string, unknown>>;
    };
    const { stdout } = await run('kubectl', ['--kubeconfig', cp.writeKubeconfig('admin'), 'get', '--raw', '/.well-known/openid-configuration']);
    const discovery = JSON.parse(stdout) as { issuer: string };
    assert.equal(discovery.issuer, `https://${KUBERNETES_SERVICE_IP}`);
    const pullIdentity = String(shipped.identities[0]!.uid);
    const config = {
      ...shipped,
      service: registryHost,
      realm: `http://${STS_SERVICE_IP}/token`,
      exchangeAudiences: [registryHost],
      issuers: [{ ...shipped.issuers[0], issuer: discovery.issuer }],
      identities: [
        ...shipped.identities,
        { uid: 'e2e-publish', issuer: 'cluster', subject: `system:serviceaccount:${PUBLISHER.namespace}:${PUBLISHER.name}`, grants: [{ repository: 'apps/**', actions: ['pull', 'push'] }] },
      ],
    };
    // What the bed lacks is cluster DNS: the controller finds the sts Service's name in /etc/hosts
    // (hostAliases), at a ClusterIP pinned for that. Its registry is the bed's (the overlay's is an example).
    await applyOverlay('sts', {
      configMapGenerator: [{ name: 'kube-regcred-sts', namespace: NAMESPACE, behavior: 'replace', files: ['config.yaml'] }],
      patches: [
        { patch: stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'kube-regcred-sts', namespace: NAMESPACE }, spec: { clusterIP: STS_SERVICE_IP } }) },
        {
          patch: stringify({
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'kube-regcred', namespace: NAMESPACE },
            spec: {
              template: {
                spec: {
                  hostAliases: [{ ip: STS_SERVICE_IP, hostnames: ['kube-regcred-sts.kube-regcred.svc'] }],
                  containers: [{ name: 'controller', env: [{ name: 'KUBE_REGCRED_DEFAULT_REGISTRY', value: registryHost }] }],
                },
              },
            },
          }),
        },
      ],
    }, { 'config.yaml': stringify(config) });
    const stsPods = await readyPods('sts', 2);
    timings.stsReady = Date.now() - start;
    for (const pod of stsPods) assertHardened(processFacts(mainProcess(pod)), `sts ${pod.metadata!.name}`);
    // No kube-proxy: the bed forwards the Service's ClusterIP to one sts Pod, through the host's loopback.
    const serviceProxy = await startTcpProxy({ host: stsPods[0]!.status!.podIP!, port: 8080 });
    extraStops.push(() => serviceProxy.stop());
    await node.podNetwork!.forward({ ip: STS_SERVICE_IP, port: 80, to: `127.0.0.1:${serviceProxy.port}` });
    const registry = await startRegistry({ realm: config.realm, service: registryHost, issuer: 'kube-regcred-sts', rootCertBundlePath: pki.certFile, port: registryPort });
    extraStops.push(() => registry.stop());
    node.addRegistry(registry.host);

    // The publisher's ServiceAccount token, exchanged at the sts: it verified it with the keys it read from
    // the issuer at the ClusterIP, as its own ServiceAccount, trusting kube-root-ca.crt. skopeo then pushes,
    // following the registry's challenge to the sts's /token.
    const subjectToken = await serviceAccountToken(cp, PUBLISHER.namespace, PUBLISHER.name, STS_AUDIENCE);
    const res = await fetch(`http://${STS_SERVICE_IP}/sts/exchange?aud=${encodeURIComponent(registryHost)}&identity=e2e-publish`, { method: 'POST', headers: { authorization: `Bearer ${subjectToken}` } });
    assert.equal(res.status, 200, await res.clone().text());
    const { token } = (await res.json()) as { token: string };
    const authfile = writeAuthfile(dockerConfigFor(registryHost, token));
    extraStops.push(async () => rmSync(authfile, { force: true }));
    const layout = buildRunnableImage(scratchDir('kube-regcred-sts-image-'), 'kube-regcred via the sts Pod');
    extraStops.push(async () => rmSync(layout, { recursive: true, force: true }));
    const pushed = await skopeoCopy(`oci:${layout}:latest`, `docker://${registryHost}/apps/via-sts:1`, { destAuthfile: authfile });
    assert.ok(pushed.ok, `skopeo push through the sts's realm: ${pushed.stderr}`);
    const pulledDir = scratchDir('kube-regcred-anonymous-');
    extraStops.push(async () => rmSync(pulledDir, { recursive: true, force: true }));
    const anonymous = await skopeoCopy(`docker://${registryHost}/apps/via-sts:1`, `oci:${pulledDir}:latest`);
    assert.ok(!anonymous.ok && /401|unauthorized|authentication required/i.test(anonymous.stderr), `an anonymous pull is refused: ${anonymous.stderr}`);

    // The controller of the sts overlay (rolled out with the hostAliases) fills a Secret with the shipped
    // cluster-pull identity, through the sts Service; a workload Pod pulls with it.
    controllerPod = (await readyPods('controller', 1, 120_000, (p) => (p.spec?.hostAliases ?? []).length > 0))[0]!;
    await core.createNamespace({ body: { metadata: { name: stsAppNs } } });
    await waitFor(() => core.readNamespacedServiceAccount({ namespace: stsAppNs, name: 'default' }).then(() => true, () => false), {
      description: `default ServiceAccount in ${stsAppNs}`,
    });
    await core.createNamespacedSecret({
      namespace: stsAppNs,
      body: { metadata: { name: 'pull-secret', annotations: { [IDENTITY]: pullIdentity } }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{}' } },
    });
    await waitFor(async () => tokenIn(await core.readNamespacedSecret({ namespace: stsAppNs, name: 'pull-secret' }), registryHost), {
      description: `${stsAppNs}/pull-secret filled through the sts Service`,
      timeoutMs: 60_000,
    }).catch((err: Error) => assert.fail(err.message + context()));
    const workload = await deployWorkload(stsAppNs, 'via-sts', `${registryHost}/apps/via-sts:1`, 'pull-secret');
    const events = await podEvents(cp, stsAppNs, workload.metadata!.name!);
    assert.ok(events.some((e) => e.reason === 'Pulled'), JSON.stringify(events));
  });

  it('a deleted namespace finishes deleting: its Pods stopped, its objects removed', async () => {
    const start = Date.now();
    for (const name of [appNs, stsAppNs]) await core.deleteNamespace({ name });
    await waitFor(async () => {
      for (const name of [appNs, stsAppNs]) if (await core.readNamespace({ name }).then(() => true, (err: { code?: number }) => err.code !== 404)) return false;
      return true;
    }, {
      description: `namespaces ${appNs} and ${stsAppNs} gone`,
      timeoutMs: 90_000,
      intervalMs: 250,
    }).catch((err: Error) => assert.fail(err.message + context()));
    timings.namespaceDeleted = Date.now() - start;
  });

  it('stopping the node leaves no bridge, nat chain or KUBE-* chain on the host', async () => {
    await node.stop();
    assert.deepEqual(await podNetworkLeftovers(node.name), []);
    assert.deepEqual(kubeIptablesChains(), chainsBefore);
    console.log(`# shipped-image timings (ms from the start of each step): ${JSON.stringify(timings)}`);
  });
});
