// manifests/overlays/chainguard-compat as a drop-in for pull-secret-updater: applied to the bed, the
// controller configured exactly by the overlay's Deployment env (only the issuer URL points at the test
// STS) presents system:serviceaccount:pull-secret-updater:controller at audience issuer.enforce.dev;
// a Secret the old controller wrote (alias annotation, only `auth` set) is read as valid and left alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { startControllerProcess, type RunningController } from '../../src/cmd/controller.ts';
import { parseControllerSettings } from '../../src/controller/options.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { startTestSts, type TestSts } from '../support/test-sts.ts';
import { waitFor } from '../support/wait.ts';
import { LogCapture, suffix } from './controller-harness.ts';

const run = promisify(execFile);
const OVERLAY = join(import.meta.dirname, '..', '..', 'manifests', 'overlays', 'chainguard-compat');
const OLD_SUBJECT = 'system:serviceaccount:pull-secret-updater:controller';
const IDENTITY = '720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d';

interface Env {
  name: string;
  value?: string;
}

describe('chainguard-compat overlay: the subject pull-secret-updater presented', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let sts: TestSts;
  let controller: RunningController | undefined;
  const logs = new LogCapture();
  const ns = `compat-${suffix()}`;

  before(async () => {
    cp = await useControlPlane();
    core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    await run('kubectl', ['--kubeconfig', cp.writeKubeconfig('admin'), 'apply', '--server-side', '--field-manager=kube-regcred-test', '-k', OVERLAY]);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    sts = await startTestSts({
      jwksUrl: `${cp.issuer}/openid/v1/jwks`,
      caPem: cp.caPem,
      expectedAudience: 'issuer.enforce.dev',
      expectedIssuer: cp.issuer,
      tokenLifetimeSeconds: 3600,
    });
  });

  after(async () => {
    await controller?.stop();
    await sts?.stop();
  });

  it('runs as pull-secret-updater/controller and the STS sees that subject; an old Secret is not rewritten', async () => {
    const { stdout } = await run('kubectl', ['kustomize', OVERLAY]);
    const docs = parseAllDocuments(stdout).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; spec?: any });
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    assert.equal(deployment.metadata.namespace, 'pull-secret-updater');
    assert.equal(deployment.spec.template.spec.serviceAccountName, 'controller');
    const env: Record<string, string> = { POD_NAMESPACE: deployment.metadata.namespace! };
    for (const e of deployment.spec.template.spec.containers[0].env as Env[]) if (e.value !== undefined) env[e.name] = e.value;
    assert.equal(env['KUBE_REGCRED_AUDIENCE'], 'issuer.enforce.dev');
    assert.equal(env['KUBE_REGCRED_DEFAULT_REGISTRY'], 'cgr.dev');
    env['KUBE_REGCRED_ISSUER_URL'] = sts.url; // the only change: Chainguard's issuer is not reachable here
    env['KUBE_REGCRED_OPS_ADDRESS'] = '127.0.0.1:0';

    // What the Pod would run with: a token of the overlay's ServiceAccount, under the overlay's RBAC.
    const issued = await core.createNamespacedServiceAccountToken({ name: 'controller', namespace: 'pull-secret-updater', body: { spec: { expirationSeconds: 3600 } } });
    const kubeconfig = cp.writeKubeconfig({ token: issued.status!.token!, name: OLD_SUBJECT });

    // A Secret exactly as pull-secret-updater leaves it: its annotation, and only `auth`.
    const oldToken = await sts.issueFor(IDENTITY, 'cgr.dev');
    const oldConfig = JSON.stringify({ auths: { 'cgr.dev': { auth: Buffer.from(`_token:${oldToken}`).toString('base64') } } });
    const old = await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'pull-secret', annotations: { 'pull-secret-updater.chainguard.dev/identity': IDENTITY } },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': oldConfig },
      },
    });

    const settings = parseControllerSettings(['--kubeconfig', kubeconfig, '--namespaces', ns, '--no-leader-elect', '--log-level', 'debug'], env);
    controller = await startControllerProcess(settings, { env, logDestination: logs.stream });
    // The reconcile of the old Secret happened (and decided to wait) ...
    await waitFor(() => logs.lines.some((l) => l.includes('token still good') && l.includes(`${ns}/pull-secret`)), {
      description: 'the old Secret reconciled',
    });
    const after = await core.readNamespacedSecret({ name: 'pull-secret', namespace: ns });
    assert.equal(after.metadata?.resourceVersion, old.metadata?.resourceVersion, 'the old Secret was rewritten');
    assert.equal(sts.calls.exchange, 0, 'no exchange for a Secret whose token is good');

    // ... and once it needs a token (emptied here), it is exchanged under the old controller's subject.
    await core.patchNamespacedSecret({
      name: 'pull-secret',
      namespace: ns,
      body: [{ op: 'replace', path: '/data/.dockerconfigjson', value: Buffer.from('{}').toString('base64') }],
    });
    await waitFor(() => sts.calls.issued > 0, { description: 'an exchange after the token was removed' });
    assert.deepEqual([...sts.calls.bySubject.keys()], [OLD_SUBJECT], 'the STS saw only the old controller’s subject');
    assert.equal(sts.calls.last?.query.get('identity'), IDENTITY);
    assert.equal(sts.calls.last?.form.get('aud'), 'cgr.dev');
  });
});
