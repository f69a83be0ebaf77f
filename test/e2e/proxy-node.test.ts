// The registry proxy where it matters: a Pod on the bed's real node (kubelet + containerd) pulls its
// image through `kube-regcred proxy` from a Distribution registry that has no auth of its own, with the
// pull secret `kube-regcred controller` (a CLI process under the shipped RBAC) filled from the sts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { startFullChain, type FullChain } from '../support/full-chain.ts';
import { nodeSkipReason, startNode, type TestNode } from '../support/node.ts';
import { createPod, waitForPod } from '../support/pods.ts';
import { logTail } from '../support/process.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { waitFor } from '../support/wait.ts';

const skip = nodeSkipReason();
if (skip) console.log(`# proxy node tests skipped: ${skip}`);

const UNAUTHORIZED = /401|unauthorized/i;

function tokenIn(secret: V1Secret | undefined, host: string): string | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  return (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> }).auths?.[host]?.password;
}

async function proxyMetric(chain: FullChain, labels: string): Promise<number> {
  const text = await (await fetch(`${chain.proxied!.proxyOpsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`kube_regcred_proxy_requests_total{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('a Pod on a real node pulls through kube-regcred proxy with the pull secret the controller filled', { skip }, () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let chain: FullChain;
  let node: TestNode;
  let image: string;
  const ns = `proxy-node-${randomUUID().slice(0, 6)}`;
  const context = (): string =>
    `\n--- proxy log ---\n${logTail(chain.proxied!.proxyLog, 20)}\n--- controller log ---\n${logTail(chain.controllerLog, 10)}\n--- kubelet log ---\n${logTail(node.kubeletLog, 20)}`;

  before(async () => {
    cp = await useControlPlane();
    core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'default' } } });
    chain = await startFullChain(cp, { exchangeLifetime: '10m', registryLifetime: '5m', namespaces: [ns], behindProxy: true });
    const published = await chain.publish('demo/proxied', '1');
    assert.ok(published.ok, `publishing through the proxy failed: ${published.stderr}`);
    // It landed in the registry behind the proxy, which has no auth of its own.
    const tags = (await (await fetch(`${chain.proxied!.upstream.url}/v2/demo/proxied/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['1']);
    image = `${chain.registry.host}/demo/proxied:1`;
    node = await startNode(cp, { registries: [chain.registry.host] });
  });

  after(async () => {
    await node?.stop();
    await chain?.stop();
  });

  it('the Pod runs: kubelet → containerd → proxy challenge → sts /token → proxy → registry', async () => {
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'pull-secret', annotations: { 'kube-regcred.io/identity': chain.identities.pull } },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': '{}' },
      },
    });
    await waitFor(async () => tokenIn(await core.readNamespacedSecret({ namespace: ns, name: 'pull-secret' }), chain.registry.host), {
      description: 'pull-secret filled for the proxy host',
      timeoutMs: 30_000,
    }).catch((err: Error) => assert.fail(err.message + context()));
    const pullsBefore = await proxyMetric(chain, 'action="pull",result="forwarded"');
    await createPod(cp, node, { namespace: ns, name: 'through-proxy', image, imagePullSecrets: ['pull-secret'] });
    const outcome = await waitForPod(cp, ns, 'through-proxy', 'Running').catch((err: Error) => assert.fail(err.message + context()));
    assert.ok(outcome.events.some((e) => e.reason === 'Pulled'), JSON.stringify(outcome.events));
    assert.ok((await proxyMetric(chain, 'action="pull",result="forwarded"')) > pullsBefore, 'the pull went through the proxy');
  });

  it('without the Secret the node is challenged by the proxy and the pull fails with 401', async () => {
    await createPod(cp, node, { namespace: ns, name: 'anonymous', image });
    const outcome = await waitForPod(cp, ns, 'anonymous', 'PullFailed');
    assert.ok(outcome.events.some((e) => e.reason === 'Failed' && UNAUTHORIZED.test(e.message)), JSON.stringify(outcome.events));
    assert.ok((await proxyMetric(chain, 'action="pull",result="unauthenticated"')) > 0);
  });
});
