// A real control plane on loopback: etcd + kube-apiserver with RBAC, a ServiceAccount issuer, an admin
// and a low-privilege identity. Started by hack/run-tests.ts once per run, or by a test file on its own.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeBinary } from './binaries.ts';
import { createCertificateAuthority, issueCertificate } from './pki.ts';
import { freePort } from './ports.ts';
import { startComponent, type Component } from './process.ts';
import { scratchDir } from './scratch.ts';

/** What a test needs to talk to the control plane; serializable so one run can share it across files. */
export interface ControlPlaneInfo {
  server: string;
  issuer: string;
  caPem: string;
  caFile: string;
  /** The CA's key: a node's kubelet gets its client certificate from it, as kubeadm join would. */
  caKeyFile: string;
  /** The key that signs ServiceAccount tokens: kube-controller-manager signs legacy token Secrets with it. */
  saKeyFile: string;
  adminToken: string;
  testerToken: string;
  dir: string;
  logDir: string;
  etcdLog: string;
  apiserverLog: string;
}

export type Identity = 'admin' | 'tester' | { token: string; name?: string };

export interface ControlPlane extends ControlPlaneInfo {
  kubeConfig(who: Identity): KubeConfig;
  writeKubeconfig(who: Identity, path?: string): string;
  stop(): Promise<void>;
}

export interface OwnedControlPlane extends ControlPlane {
  /**
   * For a control plane owned by one test file: do not keep the process alive for it, and kill it and
   * remove its files when the process exits (node:test gives a file no hook that runs after all else).
   */
  releaseAtExit(): void;
}

function httpsGetStatus(url: string, caPem: string, token: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { ca: caPem, headers: { authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function buildKubeConfig(info: ControlPlaneInfo, who: Identity): KubeConfig {
  const token = who === 'admin' ? info.adminToken : who === 'tester' ? info.testerToken : who.token;
  const user = typeof who === 'string' ? who : (who.name ?? 'token-user');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test-bed', server: info.server, caData: Buffer.from(info.caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: user, token }],
    contexts: [{ name: user, cluster: 'test-bed', user }],
    currentContext: user,
  });
  return kc;
}

/** Adds kube-config helpers to serializable info (used for a control plane started by another process). */
export function attachControlPlane(info: ControlPlaneInfo, stop: () => Promise<void>): ControlPlane {
  let files = 0;
  return {
    ...info,
    kubeConfig: (who) => buildKubeConfig(info, who),
    writeKubeconfig(who, path) {
      const target = path ?? join(scratchDir('kubeconfig-'), `config-${files++}`);
      writeFileSync(target, buildKubeConfig(info, who).exportConfig(), { mode: 0o600 });
      return target;
    },
    stop,
  };
}

async function bootstrap(cp: ControlPlane): Promise<void> {
  // Public issuer discovery, as clusters that federate their ServiceAccount tokens enable it, so an STS
  // can fetch /openid/v1/jwks without credentials.
  const { RbacAuthorizationV1Api } = await import('@kubernetes/client-node');
  const rbac = cp.kubeConfig('admin').makeApiClient(RbacAuthorizationV1Api);
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'test-bed:public-issuer-discovery' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
    },
  });
}

export interface ControlPlaneOptions {
  /**
   * Bind system:service-account-issuer-discovery to system:unauthenticated (default true, as the
   * shared bed does). false: a bed where only authenticated clients may read discovery and the JWKS.
   */
  publicIssuerDiscovery?: boolean;
  /** etcd's --quota-backend-bytes (etcd's default is 2 GiB; the hostile bench stores more than 1 GiB of Secrets, twice). */
  etcdQuotaBackendBytes?: number;
  /**
   * The ServiceAccount issuer; default the server's own URL. `https://10.96.0.1`, the `kubernetes`
   * Service's ClusterIP, is an issuer Pods on a bed node with a pod network reach as they would in a
   * cluster (test/support/pod-network.ts routes it to the apiserver).
   */
  issuer?: string;
}

/** The `kubernetes` Service's ClusterIP: the first address of --service-cluster-ip-range. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<OwnedControlPlane> {
  const binary = kubeBinary('kube-apiserver');
  const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-bed-'));
  const logDir = join(dir, 'logs');
  const pkiDir = join(dir, 'pki');
  mkdirSync(logDir);
  mkdirSync(pkiDir);
  // etcd's fsyncs dominate start-up and every write on a shared disk; tmpfs when there is one.
  const etcdData = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/kube-regcred-etcd-') : join(dir, 'etcd');

  const components: Component[] = [];
  const stop = async (): Promise<void> => {
    for (const component of components.reverse()) await component.stop();
    components.length = 0;
    rmSync(etcdData, { recursive: true, force: true });
    if (!process.env.KUBE_REGCRED_KEEP_TESTBED) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    const etcdLog = join(logDir, 'etcd.log');
    components.push(
      await startComponent({
        name: 'etcd',
        command: 'etcd',
        args: [
          '--name', 'test-bed', '--data-dir', etcdData,
          '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
          '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
          '--initial-cluster', `test-bed=http://127.0.0.1:${etcdPeerPort}`,
          '--log-level', 'warn', '--logger', 'zap',
          ...(options.etcdQuotaBackendBytes !== undefined ? ['--quota-backend-bytes', String(options.etcdQuotaBackendBytes)] : []),
        ],
        logFile: etcdLog,
        ready: async () => {
          const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(1000) });
          return res.ok && ((await res.json()) as { health?: string }).health === 'true';
        },
        startTimeoutMs: 30_000,
      }),
    );

    const ca = createCertificateAuthority(pkiDir);
    // Valid for the `kubernetes` Service as well, as a cluster's apiserver is: in-cluster clients dial it.
    const serving = issueCertificate(ca, {
      commonName: 'kube-apiserver',
      sans: ['127.0.0.1', 'localhost', KUBERNETES_SERVICE_IP, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      keyType: 'ec',
    });
    const saKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const saKeyFile = join(pkiDir, 'sa.key');
    const saPubFile = join(pkiDir, 'sa.pub');
    writeFileSync(saKeyFile, saKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(saPubFile, saKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    const adminToken = randomBytes(24).toString('hex');
    const testerToken = randomBytes(24).toString('hex');
    const tokenFile = join(pkiDir, 'tokens.csv');
    writeFileSync(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n${testerToken},tester,tester-uid\n`, { mode: 0o600 });

    const server = `https://127.0.0.1:${apiPort}`;
    const issuer = options.issuer ?? server;
    const apiserverLog = join(logDir, 'kube-apiserver.log');
    components.push(
      await startComponent({
        name: 'kube-apiserver',
        command: binary,
        args: [
          `--etcd-servers=${etcdUrl}`,
          `--secure-port=${apiPort}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
          `--tls-cert-file=${serving.certFile}`, `--tls-private-key-file=${serving.keyFile}`,
          `--client-ca-file=${ca.certFile}`,
          `--token-auth-file=${tokenFile}`,
          // As a real cluster: nodes may read only what their Pods reference, and may ask for
          // ServiceAccount tokens only for their Pods (and, KEP-4412, for audiences RBAC grants them).
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          `--service-account-issuer=${issuer}`,
          // Discovery names the JWKS under the issuer, not the advertise address (loopback, for Pods their own).
          `--service-account-jwks-uri=${issuer}/openid/v1/jwks`,
          `--service-account-key-file=${saPubFile}`, `--service-account-signing-key-file=${saKeyFile}`,
          '--service-cluster-ip-range=10.96.0.0/16',
          `--cert-dir=${join(dir, 'apiserver-certs')}`,
          '--enable-priority-and-fairness=false',
          // The kubernetes Service cannot point at loopback; with no kubelet or Pods it is not needed.
          '--endpoint-reconciler-type=none',
          '--profiling=false',
          '--v=1',
        ],
        logFile: apiserverLog,
        ready: async () => (await httpsGetStatus(`${server}/readyz`, ca.certPem, adminToken)) === 200,
        startTimeoutMs: 90_000,
      }),
    );

    const cp = attachControlPlane(
      { server, issuer, caPem: ca.certPem, caFile: ca.certFile, caKeyFile: ca.keyFile, saKeyFile, adminToken, testerToken, dir, logDir, etcdLog, apiserverLog },
      stop,
    );
    if (options.publicIssuerDiscovery !== false) await bootstrap(cp);
    const releaseAtExit = (): void => {
      for (const component of components) component.unref();
      process.once('exit', () => {
        // Components are SIGKILLed by process.ts at exit; only the files are left to remove.
        rmSync(etcdData, { recursive: true, force: true });
        if (!process.env.KUBE_REGCRED_KEEP_TESTBED) rmSync(dir, { recursive: true, force: true });
      });
    };
    return { ...cp, releaseAtExit };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
