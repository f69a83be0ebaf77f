// `kube-regcred controller` as a process: --help and bad options, then a real run as its own
// ServiceAccount (env vars + flags) that fills a Secret, serves /metrics /readyz, and on SIGTERM
// shuts down cleanly with exit code 0, releasing its Lease.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import type { TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import { builtCli } from '../support/cli.ts';
import { Kube, REGISTRY, SA_NAME, STS_AUDIENCE, createControllerIdentity, metricValue, startSts, suffix, tokenOf } from './controller-harness.ts';

const NODE = process.execPath;
const MAIN = await builtCli();

describe('kube-regcred controller (the command)', () => {
  it('prints --help with every flag and exits 0', () => {
    const result = spawnSync(NODE, [MAIN, 'controller', '--help'], { encoding: 'utf8' });
    assert.equal(result.status, 0);
    assert.match(result.stdout, /--issuer-url/);
    assert.match(result.stdout, /KUBE_REGCRED_DEFAULT_REGISTRY/);
  });

  it('exits 2 with a clear message on a bad option', () => {
    const result = spawnSync(NODE, [MAIN, 'controller', '--concurrency', 'many'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--concurrency \(KUBE_REGCRED_CONCURRENCY\): not an integer/);
  });

  describe('running', () => {
    let cp: ControlPlane;
    let sts: TestSts;
    let child: ChildProcess | undefined;

    before(async () => {
      cp = await useControlPlane();
      sts = await startSts(cp, 3600);
    });

    after(async () => {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await sts?.stop();
    });

    it('fills a Secret, serves metrics, and shuts down on SIGTERM releasing its Lease', async () => {
      const kube = new Kube(cp);
      const identity = await createControllerIdentity(cp);
      const ns = await kube.namespace('cli');
      const leaseName = `cli-${suffix()}`;
      await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'cli/one' });
      let stdout = '';
      let stderr = '';
      child = spawn(NODE, [MAIN, 'controller', '--kubeconfig', identity.kubeconfig, '--namespaces', ns, '--lease-name', leaseName], {
        env: {
          PATH: process.env['PATH'],
          POD_NAMESPACE: identity.namespace,
          KUBE_REGCRED_ISSUER_URL: sts.url,
          KUBE_REGCRED_AUDIENCE: STS_AUDIENCE,
          KUBE_REGCRED_DEFAULT_REGISTRY: REGISTRY,
          KUBE_REGCRED_SERVICE_ACCOUNT_NAME: SA_NAME,
          KUBE_REGCRED_OPS_ADDRESS: '127.0.0.1:0',
        },
      });
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));

      const port = await waitFor(() => /"opsPort":(\d+)/.exec(stdout)?.[1], { description: `ops port logged (stderr: ${stderr})` });
      await waitFor(async () => tokenOf(await kube.secret(ns, 'pull-secret')), { description: 'Secret filled by the process' });
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, { description: 'ready' });
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.equal(metricValue(metrics, 'kube_regcred_secret_refreshes_total'), 1);

      child.kill('SIGTERM');
      assert.equal(await exited, 0, `exit code after SIGTERM (stderr: ${stderr})`);
      assert.match(stdout, /"msg":"lease released"/);
      const lease = await cp.kubeConfig('admin').makeApiClient(CoordinationV1Api).readNamespacedLease({ name: leaseName, namespace: identity.namespace });
      assert.equal(lease.spec?.holderIdentity ?? '', '', 'the Lease was released');
      // Every log line is JSON, and none holds a token.
      for (const line of stdout.trim().split('\n')) JSON.parse(line);
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}/.test(stdout), 'JWT-shaped text in the logs');
    });
  });
});
