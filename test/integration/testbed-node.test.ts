// The test bed's node itself: the kubelet registers as system:node:<name> with its client certificate,
// runs a Pod through containerd, and leaves the host exactly as it found it, whether it is stopped or
// its test process is killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { cgroupMounts, kubeIptablesChains, mountsUnder, nodeProcesses, sweepStaleNodes } from '../support/node-host.ts';
import { nodeSkipReason, startNode, type TestNode } from '../support/node.ts';
import { podNetworkLeftovers, podNetworkSkipReason } from '../support/pod-network.ts';
import { createPod, waitForPod } from '../support/pods.ts';
import { useControlPlane, TESTBED_ENV, type ControlPlane } from '../support/testbed.ts';
import { waitFor } from '../support/wait.ts';

const skip = nodeSkipReason();
if (skip) console.log(`# node tests skipped: ${skip}`);
const SANDBOX_IMAGE = 'kube-regcred.test/pause:local';

interface Leftovers {
  processes: number[];
  cgroups: string[];
  mounts: string[];
  dirExists: boolean;
}

function leftovers(name: string, dir: string, nsId?: string): Leftovers {
  return {
    processes: nodeProcesses(nsId, name, dir),
    cgroups: cgroupMounts().map((m) => join(m.path, name)).filter((p) => existsSync(p)),
    mounts: mountsUnder(dir),
    dirExists: existsSync(dir),
  };
}

const NOTHING: Leftovers = { processes: [], cgroups: [], mounts: [], dirExists: false };

describe('test bed node: kubelet + containerd', { skip }, () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let node: TestNode;
  let chainsBefore: string[];
  const ns = `node-${Date.now().toString(36)}`;

  before(async () => {
    cp = await useControlPlane();
    core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    chainsBefore = kubeIptablesChains();
    node = await startNode(cp);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'default' } } });
  });

  after(async () => {
    await node?.stop();
  });

  it('authenticates as system:node:<name> in group system:nodes, with its client certificate', async () => {
    const kubeconfig = JSON.parse(readFileSync(join(node.dir, 'kubelet.kubeconfig'), 'utf8')) as {
      users: Array<{ user: { 'client-certificate': string; 'client-key': string } }>;
    };
    const { 'client-certificate': certFile, 'client-key': keyFile } = kubeconfig.users[0]!.user;
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
    const { statusCode, text } = await new Promise<{ statusCode: number; text: string }>((resolve, reject) => {
      const req = request(`${cp.server}/apis/authentication.k8s.io/v1/selfsubjectreviews`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ca: cp.caPem,
        cert: readFileSync(certFile),
        key: readFileSync(keyFile),
      }, (res) => {
        let data = '';
        res.on('data', (chunk: Buffer) => (data += chunk.toString()));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, text: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(statusCode, 201, text);
    const { status } = JSON.parse(text) as { status: { userInfo: { username: string; groups: string[] } } };
    assert.equal(status.userInfo.username, `system:node:${node.name}`);
    assert.ok(status.userInfo.groups.includes('system:nodes'), `groups: ${status.userInfo.groups.join(', ')}`);
    const registered = await core.readNode({ name: node.name });
    assert.equal(registered.metadata?.name, node.name);
  });

  it('runs a Pod through containerd (the locally imported sandbox image, never pulled)', async () => {
    await createPod(cp, node, { namespace: ns, name: 'sandbox-image', image: SANDBOX_IMAGE, imagePullPolicy: 'Never' });
    const outcome = await waitForPod(cp, ns, 'sandbox-image', 'Running');
    assert.equal(outcome.phase, 'Running');
  });

  it('stop() leaves no process, cgroup, mount, iptables chain, directory or Node object', async () => {
    const nsId = JSON.parse(readFileSync(join(node.dir, 'owner.json'), 'utf8')).nsId as string;
    assert.ok(nodeProcesses(nsId, node.name, node.dir).length >= 3, 'containerd, kubelet and the Pod run before the stop');
    await node.stop();
    assert.deepEqual(leftovers(node.name, node.dir, nsId), NOTHING);
    assert.deepEqual(kubeIptablesChains(), chainsBefore, 'iptables KUBE-* chains differ from before the node started');
    const gone = await core.readNode({ name: node.name }).then(() => false, () => true);
    assert.ok(gone, 'the Node object is deleted');
  });

  it('a node whose test process was killed is swept by the next start: nothing of it is left', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '..', 'fixtures', 'node-then-hang.ts'), ns], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, [TESTBED_ENV]: process.env[TESTBED_ENV] ?? '' },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const ready = await waitFor(() => /^running (\S+) (\S+)$/m.exec(output) ?? undefined, { description: 'the child\'s node running a Pod', timeoutMs: 120_000 });
    const [, name, dir] = ready;
    const nsId = JSON.parse(readFileSync(join(dir!, 'owner.json'), 'utf8')).nsId as string;
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const orphaned = leftovers(name!, dir!, nsId);
    assert.ok(orphaned.processes.length > 0 || orphaned.cgroups.length > 0, 'a killed test process leaves its node\'s shims or cgroups (what the sweep is for)');
    if (podNetworkSkipReason() === undefined) {
      assert.ok((await podNetworkLeftovers(name!)).length > 0, 'the killed node\'s bridge and nat chain are still there');
    }
    const swept = await sweepStaleNodes();
    assert.ok(swept.includes(name!), `swept ${swept.join(', ')}`);
    assert.deepEqual(leftovers(name!, dir!, nsId), NOTHING);
    assert.deepEqual(await podNetworkLeftovers(name!), [], 'the sweep removed the bridge and the nat chain');
    assert.deepEqual(kubeIptablesChains(), chainsBefore);
  });
});
