// `npm run demo`: the main job on an embedded control plane. Starts kube-apiserver + etcd, a real node
// (kubelet + containerd), a Distribution registry, `kube-regcred sts` and `kube-regcred controller`
// (applying the shipped manifests), pushes a demo image, creates and annotates a pull secret, and shows a
// Pod on the node pulling its image with it, then the token rotating while new Pods keep pulling.
// Ctrl-C stops everything. `--once` exits after the first refresh; `--keep` then waits for Ctrl-C.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { startControlPlane } from '../test/support/control-plane.ts';
import { startFullChain, type FullChain } from '../test/support/full-chain.ts';
import { nodeSkipReason, startNode, type TestNode } from '../test/support/node.ts';
import { createPod, waitForPod } from '../test/support/pods.ts';
import { parseDuration } from '../src/config.ts';

const { values: args } = parseArgs({
  options: {
    once: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'token-lifetime': { type: 'string', default: '60s' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('Usage: npm run demo [-- --once] [-- --keep] [-- --token-lifetime 60s]');
  process.exit(0);
}
const lifetime = args['token-lifetime'];
const lifetimeMs = parseDuration(lifetime);
const NAMESPACE = 'demo';
const IMAGE = { repository: 'demo/hello', tag: '1' };

const started = Date.now();
const step = (text: string): void => {
  const seconds = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`[${seconds}s] ${text}`);
};

function tokenOf(secret: V1Secret, host: string): string | undefined {
  const raw = secret.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  return (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> }).auths?.[host]?.password;
}

function expiryOf(token: string): string {
  const { exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { exp: number };
  return new Date(exp * 1000).toISOString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const keepFiles = Boolean(process.env.KUBE_REGCRED_KEEP_TESTBED);
const noNode = nodeSkipReason();

step('starting kube-apiserver + etcd (embedded control plane)');
const cp = await startControlPlane();
let chain: FullChain | undefined;
let node: TestNode | undefined;
let stopping: Promise<never> | undefined;
// One shutdown, whoever asks first: Ctrl-C, the end of --once, or a failure (which, while Ctrl-C is
// already stopping the components, is just the demo noticing they are gone).
const shutdown = (code: number): Promise<never> =>
  (stopping ??= (async () => {
    step('stopping: node, controller, sts, registry, kube-apiserver, etcd');
    await node?.stop();
    await chain?.stop();
    await cp.stop();
    step(keepFiles ? `stopped; logs and files kept in ${cp.dir}` : 'stopped');
    process.exit(code);
  })());
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  step(`control plane up at ${cp.server}`);
  const kubeconfig = join(cp.dir, 'admin.kubeconfig');
  writeFileSync(kubeconfig, cp.kubeConfig('admin').exportConfig(), { mode: 0o600 });
  step(`starting kube-regcred sts, a registry behind it, and kube-regcred controller (manifests/overlays/default)`);
  chain = await startFullChain(cp, { exchangeLifetime: lifetime, registryLifetime: '30s', namespaces: [], dir: join(cp.dir, 'chain') });
  step(`kube-regcred sts at ${chain.stsUrl}; registry at ${chain.registry.host}`);
  step('kube-regcred controller running as ServiceAccount kube-regcred/kube-regcred');

  const pushed = await chain.publish(IMAGE.repository, IMAGE.tag);
  if (!pushed.ok) throw new Error(`pushing the demo image failed: ${pushed.stderr}`);
  const image = `${chain.registry.host}/${IMAGE.repository}:${IMAGE.tag}`;
  step(`pushed ${image} (identity ${chain.identities.push}, through the sts)`);

  if (noNode) {
    step(`no node on this machine (${noNode}): Pods cannot run, skopeo pulls with the Secret instead`);
  } else {
    step('starting a node: containerd + kubelet, registering with the control plane');
    node = await startNode(cp, { registries: [chain.registry.host] });
    step(`node ${node.name} registered (kubelet + containerd; it pulls from ${chain.registry.host})`);
  }

  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  // No kube-controller-manager runs here to create it, as a cluster would.
  await core.createNamespacedServiceAccount({ namespace: NAMESPACE, body: { metadata: { name: 'default' } } });
  console.log(`
  Look with kubectl while the demo runs (it stops on Ctrl-C${args.once && !args.keep ? ' or after the first refresh' : ''}):
    export KUBECONFIG=${kubeconfig}
    kubectl -n ${NAMESPACE} describe secret pull-secret     # annotations written by the controller, Events
    kubectl -n ${NAMESPACE} get events --watch
    kubectl -n ${NAMESPACE} get pods -o wide               # Pods on node ${node?.name ?? '(none)'}
  Logs: ${chain.controllerLog}, ${chain.stsLog}${node ? `, ${node.kubeletLog}` : ''}
  (removed when the demo stops; run with KUBE_REGCRED_KEEP_TESTBED=1 to keep them)
`);

  await core.createNamespacedSecret({
    namespace: NAMESPACE,
    body: { metadata: { name: 'pull-secret' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{}' } },
  });
  step(`kubectl create secret generic pull-secret -n ${NAMESPACE} --type=kubernetes.io/dockerconfigjson --from-literal=.dockerconfigjson='{}'`);
  await core.patchNamespacedSecret({
    name: 'pull-secret',
    namespace: NAMESPACE,
    body: [{ op: 'add', path: '/metadata/annotations', value: { 'kube-regcred.io/identity': chain.identities.pull } }],
  });
  const annotatedAt = Date.now();
  step(`kubectl annotate secret pull-secret -n ${NAMESPACE} kube-regcred.io/identity=${chain.identities.pull}`);

  const read = () => core.readNamespacedSecret({ name: 'pull-secret', namespace: NAMESPACE });
  let token: string | undefined;
  while (!(token = tokenOf(await read(), chain.registry.host))) {
    if (Date.now() - annotatedAt > 30_000) throw new Error(`the Secret was not filled within 30 s: see ${chain.controllerLog}`);
    await sleep(100);
  }
  step(`Secret filled in ${Date.now() - annotatedAt} ms: a registry token for ${chain.identities.pull}, expires ${expiryOf(token)}`);

  let pods = 0;
  const pullWithSecret = async (what: string): Promise<void> => {
    if (!node) {
      const pulled = await chain!.pullWith(await read(), IMAGE.repository, IMAGE.tag);
      if (!pulled.ok) throw new Error(`skopeo could not pull: ${pulled.stderr}`);
      step(`skopeo pulled ${image} with the Secret's .dockerconfigjson (${what})`);
      return;
    }
    const name = `hello-${++pods}`;
    const created = Date.now();
    await createPod(cp, node, { namespace: NAMESPACE, name, image, imagePullSecrets: ['pull-secret'] });
    step(`kubectl run ${name} --image=${image} (imagePullSecrets: pull-secret, imagePullPolicy: Always)`);
    const outcome = await waitForPod(cp, NAMESPACE, name, 'Running');
    const pulled = outcome.events.find((e) => e.reason === 'Pulled');
    step(`Pod ${NAMESPACE}/${name} Running in ${Date.now() - created} ms: the kubelet pulled ${image} with the Secret (${what})${pulled ? `: "${pulled.message}"` : ''}`);
  };
  await pullWithSecret('first token');

  step(`waiting for a refresh: tokens live ${lifetime}, the controller refreshes when about a third is left`);
  for (let refresh = 1; ; refresh++) {
    const previous: string | undefined = token;
    const waitingSince = Date.now();
    let shown = 0;
    while ((token = tokenOf(await read(), chain.registry.host)) === previous) {
      const waited = Math.floor((Date.now() - waitingSince) / 10_000);
      if (waited > shown) {
        shown = waited;
        step(`  ... still waiting for refresh #${refresh} (${waited * 10} s; the current token expires ${expiryOf(previous!)})`);
      }
      await sleep(250);
    }
    const secret = await read();
    step(`refresh #${refresh}: new token written at ${secret.metadata?.annotations?.['kube-regcred.io/refreshed-at']}, expires ${expiryOf(token!)} (old one was still valid; same Secret, patched in place)`);
    await pullWithSecret(`after refresh #${refresh}`);
    if (args.once) break;
    if (refresh === 1) step('the controller keeps refreshing and new Pods keep pulling; Ctrl-C stops everything');
    await sleep(Math.min(lifetimeMs / 4, 5000));
  }
  if (args.keep) {
    step('--keep: everything stays up; Ctrl-C stops it');
    await new Promise(() => undefined);
  }
  await shutdown(0);
} catch (err) {
  if (stopping === undefined) console.error(`demo failed: ${(err as Error).message}`);
  await shutdown(1);
}
