// kube-controller-manager and kube-scheduler for a control plane whose tests need a cluster's own
// controllers: Deployments become ReplicaSets and Pods, the scheduler binds them to a node, every new
// namespace gets its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap, and deleted namespaces
// are emptied and finish deleting. Started only by the tests that need them: on the run's shared control
// plane they would create what other test files create themselves (and schedule Pods onto their nodes).
import { request } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeBinary } from './binaries.ts';
import type { ControlPlane } from './control-plane.ts';
import { kubeletKubeconfig } from './node-config.ts';
import { issueCertificate } from './pki.ts';
import { freePort } from './ports.ts';
import { startComponent, type Component } from './process.ts';

export interface ClusterControllers {
  controllerManagerLog: string;
  schedulerLog: string;
  stop(): Promise<void>;
}

/** 200 from a component's own /healthz (served with a self-signed certificate of its --cert-dir). */
function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`https://127.0.0.1:${port}/healthz`, { rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startClusterControllers(cp: ControlPlane): Promise<ClusterControllers> {
  const kcm = kubeBinary('kube-controller-manager');
  const scheduler = kubeBinary('kube-scheduler');
  const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-controllers-'));
  const components: Component[] = [];
  const stop = async (): Promise<void> => {
    for (const component of components.reverse()) await component.stop();
    components.length = 0;
    rmSync(dir, { recursive: true, force: true });
  };
  // The identities the apiserver's bootstrap RBAC binds (system:kube-controller-manager, system:kube-scheduler),
  // with client certificates of the bed's CA, as kubeadm gives them.
  const kubeconfigFor = (user: string): string => {
    const ca = { dir, certFile: cp.caFile, keyFile: cp.caKeyFile, certPem: cp.caPem, keyPem: '' };
    const client = issueCertificate(ca, { commonName: user, fileStem: user.replace(/:/g, '-') });
    const file = join(dir, `${user.replace(/:/g, '-')}.kubeconfig`);
    writeFileSync(file, kubeletKubeconfig(cp.server, cp.caFile, client.certFile, client.keyFile), { mode: 0o600 });
    return file;
  };
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const controllerManagerLog = join(cp.logDir, 'kube-controller-manager.log');
  const schedulerLog = join(cp.logDir, 'kube-scheduler.log');

  try {
    const kcmKubeconfig = kubeconfigFor('system:kube-controller-manager');
    const kcmPort = await freePort();
    components.push(
      await startComponent({
        name: 'kube-controller-manager',
        command: kcm,
        args: [
          `--kubeconfig=${kcmKubeconfig}`,
          `--authentication-kubeconfig=${kcmKubeconfig}`, `--authorization-kubeconfig=${kcmKubeconfig}`,
          '--bind-address=127.0.0.1', `--secure-port=${kcmPort}`, `--cert-dir=${join(dir, 'kcm-certs')}`,
          // The bed's own control plane: no other instance to elect against.
          '--leader-elect=false',
          // Each controller acts as its own ServiceAccount in kube-system, as in a kubeadm cluster.
          '--use-service-account-credentials=true',
          // kube-root-ca.crt in every namespace holds this CA; legacy token Secrets are signed by the
          // key whose public half the apiserver verifies with (--service-account-key-file).
          `--root-ca-file=${cp.caFile}`,
          `--service-account-private-key-file=${cp.saKeyFile}`,
          '--service-cluster-ip-range=10.96.0.0/16',
          '--profiling=false',
          '--v=1',
        ],
        logFile: controllerManagerLog,
        // Serving is not enough: ready once the ServiceAccount controller has done its first namespace.
        ready: async () =>
          (await healthz(kcmPort)) && (await core.readNamespacedServiceAccount({ namespace: 'default', name: 'default' }).then(() => true, () => false)),
        startTimeoutMs: 60_000,
      }),
    );

    const schedulerKubeconfig = kubeconfigFor('system:kube-scheduler');
    const schedulerPort = await freePort();
    components.push(
      await startComponent({
        name: 'kube-scheduler',
        command: scheduler,
        args: [
          `--kubeconfig=${schedulerKubeconfig}`,
          `--authentication-kubeconfig=${schedulerKubeconfig}`, `--authorization-kubeconfig=${schedulerKubeconfig}`,
          '--bind-address=127.0.0.1', `--secure-port=${schedulerPort}`, `--cert-dir=${join(dir, 'scheduler-certs')}`,
          '--leader-elect=false',
          '--profiling=false',
          '--v=1',
        ],
        logFile: schedulerLog,
        ready: () => healthz(schedulerPort),
        startTimeoutMs: 60_000,
      }),
    );
    return { controllerManagerLog, schedulerLog, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
