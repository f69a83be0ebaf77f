// Every kubeconfig form a user brings logs in to the real apiserver of the bed through client-node's
// KubeConfig and our transport (kube-config.ts, api-client.ts): a token, a token file that rotates, a
// client certificate, exec plugins returning a token or a certificate, proxy-url, impersonation, and the in-cluster
// ServiceAccount mount. Who the apiserver saw is read back with a SelfSubjectReview. Then: N calls
// share a bounded number of TLS connections (counted on a TCP proxy in front of the apiserver), and a
// rotated client certificate opens a new one.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { createKubeApi, type KubeApi } from '../../src/kube/api-client.ts';
import { loadKubeConnection } from '../../src/kube/kube-config.ts';
import { typedApis } from '../../src/kube/typed-apis.ts';
import { issueCertificate, type CertificateAuthority } from '../support/pki.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { suffix } from './controller-harness.ts';
import { scratchDir } from '../support/scratch.ts';

const V1 = 'client.authentication.k8s.io/v1';

describe('kubeconfig login against the real apiserver', () => {
  let cp: ControlPlane;
  let dir: string;
  let ca: CertificateAuthority;
  const apis: KubeApi[] = [];

  before(async () => {
    cp = await useControlPlane();
    dir = scratchDir('kube-login-');
    // The bed's CA signs client certificates the apiserver accepts (--client-ca-file); its files stay put.
    ca = { dir, certFile: cp.caFile, keyFile: cp.caKeyFile, certPem: cp.caPem, keyPem: '' };
  });

  after(() => {
    for (const api of apis) api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A kubeconfig with one context, the bed as its cluster (CA inline) and `user` as its user. */
  function kubeconfig(name: string, user: Record<string, unknown>, server = cp.server, cluster: Record<string, unknown> = {}): string {
    const path = join(dir, `${name}.kubeconfig`);
    writeFileSync(path, stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'bed', cluster: { server, 'certificate-authority-data': Buffer.from(cp.caPem).toString('base64'), ...cluster } }],
      users: [{ name, user }],
      contexts: [{ name, context: { cluster: 'bed', user: name } }],
      'current-context': name,
    }));
    return path;
  }

  function connect(kubeconfigPath: string): KubeApi {
    const api = createKubeApi({ connection: loadKubeConnection({ kubeconfigPath, env: {} }) });
    apis.push(api);
    return api;
  }

  async function whoAmI(api: KubeApi): Promise<{ username?: string; groups?: string[] }> {
    const review = await api.request<{ status?: { userInfo?: { username?: string; groups?: string[] } } }>('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    return review.status?.userInfo ?? {};
  }

  function clientCertificate(user: string) {
    return issueCertificate(ca, { commonName: user, organizations: ['kube-regcred-test'], fileStem: `client-${user}-${suffix()}` });
  }

  /** An exec plugin that prints `credential.json` (rewritten by the test) as its ExecCredential status. */
  function execPlugin(name: string, status: Record<string, unknown>) {
    const pluginDir = join(dir, name);
    mkdirSync(pluginDir);
    const script = join(pluginDir, 'plugin');
    const credential = join(pluginDir, 'credential.json');
    writeFileSync(script, `#!/bin/sh\necho run >> "${pluginDir}/runs"\ncat "${credential}"\n`);
    chmodSync(script, 0o755);
    const set = (s: Record<string, unknown>) => writeFileSync(credential, JSON.stringify({ kind: 'ExecCredential', apiVersion: V1, status: s }));
    set(status);
    return { script, set };
  }

  it('a token', async () => {
    assert.equal((await whoAmI(connect(kubeconfig('token', { token: cp.testerToken })))).username, 'tester');
  });

  it('a tokenFile, re-read after it rotates (KubeConfig reads it again once a minute)', async () => {
    const tokenFile = join(dir, 'rotating-token');
    writeFileSync(tokenFile, `${cp.testerToken}\n`);
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const api = connect(kubeconfig('token-file', { tokenFile }));
      assert.equal((await whoAmI(api)).username, 'tester');
      writeFileSync(tokenFile, `${cp.adminToken}\n`);
      assert.equal((await whoAmI(api)).username, 'tester', 'within the minute the token read is reused');
      mock.timers.tick(61_000);
      assert.equal((await whoAmI(api)).username, 'admin', 'the rotated token is sent');
    } finally {
      mock.timers.reset();
    }
  });

  it('a client certificate (files)', async () => {
    const cert = clientCertificate('cert-user');
    const user = { 'client-certificate': cert.certFile, 'client-key': cert.keyFile };
    assert.equal((await whoAmI(connect(kubeconfig('client-cert', user)))).username, 'cert-user');
  });

  it('an exec plugin returning a token', async () => {
    const plugin = execPlugin('exec-token', { token: cp.testerToken });
    const api = connect(kubeconfig('exec-token', { exec: { apiVersion: V1, command: plugin.script, interactiveMode: 'Never' } }));
    assert.equal((await whoAmI(api)).username, 'tester');
  });

  it('an exec plugin returning a certificate', async () => {
    const cert = clientCertificate('exec-cert-user');
    const plugin = execPlugin('exec-cert', { clientCertificateData: cert.certPem, clientKeyData: cert.keyPem });
    const api = connect(kubeconfig('exec-cert', { exec: { apiVersion: V1, command: plugin.script, interactiveMode: 'Never' } }));
    assert.equal((await whoAmI(api)).username, 'exec-cert-user');
  });

  it('proxy-url: through an HTTP CONNECT proxy (client-node\'s proxy agent)', async () => {
    const tunnels: string[] = [];
    const sockets = new Set<Socket>();
    const proxy = createServer();
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      tunnels.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = tcpConnect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client).pipe(upstream);
      });
      // A tunnel is no HTTP connection of the server's: closing the server would wait for it.
      sockets.add(client).add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const path = kubeconfig('proxied', { token: cp.testerToken }, cp.server, { 'proxy-url': proxyUrl });
      assert.equal((await whoAmI(connect(path))).username, 'tester');
      assert.deepEqual(tunnels, [new URL(cp.server).host], 'the request went through the proxy');
    } finally {
      for (const socket of sockets) socket.destroy();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('impersonation (as:)', async () => {
    const api = connect(kubeconfig('impersonate', { token: cp.adminToken, as: 'someone-else' }));
    assert.equal((await whoAmI(api)).username, 'someone-else');
  });

  it('in-cluster: KUBERNETES_SERVICE_HOST/PORT and the mounted ServiceAccount (loadFromCluster with a path prefix)', async () => {
    const admin = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    const namespace = `login-${suffix()}`;
    await admin.createNamespace({ body: { metadata: { name: namespace } } });
    await admin.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'workload' } } });
    const issued = await admin.createNamespacedServiceAccountToken({ namespace, name: 'workload', body: { spec: { audiences: [], expirationSeconds: 600 } } });
    const root = join(dir, 'pod-root');
    const mount = join(root, 'var', 'run', 'secrets', 'kubernetes.io', 'serviceaccount');
    mkdirSync(mount, { recursive: true });
    writeFileSync(join(mount, 'ca.crt'), cp.caPem);
    writeFileSync(join(mount, 'token'), issued.status!.token!);
    writeFileSync(join(mount, 'namespace'), namespace);
    const { hostname, port } = new URL(cp.server);
    // client-node reads these from process.env; this file runs in a process of its own.
    Object.assign(process.env, { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port });
    try {
      const connection = loadKubeConnection({ env: process.env, inClusterRoot: root });
      assert.equal(connection.namespace, namespace);
      const api = createKubeApi({ connection });
      apis.push(api);
      assert.equal((await whoAmI(api)).username, `system:serviceaccount:${namespace}:workload`);
    } finally {
      delete process.env['KUBERNETES_SERVICE_HOST'];
      delete process.env['KUBERNETES_SERVICE_PORT'];
    }
  });

  describe('connections', () => {
    let proxy: TcpProxy;
    before(async () => {
      const { hostname, port } = new URL(cp.server);
      proxy = await startTcpProxy({ host: hostname, port: Number(port) });
    });
    after(() => proxy?.stop());

    it('N calls, typed and hand-written, share one keep-alive TLS connection', async () => {
      const api = connect(kubeconfig('pooled', { token: cp.adminToken }, `https://127.0.0.1:${proxy.port}`));
      const { core } = typedApis(api);
      const before = proxy.connections();
      for (let i = 0; i < 10; i++) await core.readNamespace({ name: 'default' });
      for (let i = 0; i < 10; i++) await api.request('GET', '/api/v1/namespaces/default');
      assert.equal(proxy.connections() - before, 1, '20 sequential calls, 1 connection');
      await Promise.all(Array.from({ length: 8 }, () => core.readNamespace({ name: 'default' })));
      const afterBurst = proxy.connections() - before;
      assert.ok(afterBurst <= 8, `8 concurrent calls opened ${afterBurst} connections`);
      for (let i = 0; i < 10; i++) await core.readNamespace({ name: 'default' });
      assert.equal(proxy.connections() - before, afterBurst, 'pooled connections are reused');
    });

    it('a rotated client certificate (exec plugin) opens a new connection, with the new identity', async () => {
      const first = clientCertificate('rotating-cert-one');
      const plugin = execPlugin('exec-rotating', {
        clientCertificateData: first.certPem,
        clientKeyData: first.keyPem,
        expirationTimestamp: new Date(Date.now() + 3_000).toISOString(),
      });
      const api = connect(kubeconfig('rotating', { exec: { apiVersion: V1, command: plugin.script, interactiveMode: 'Never' } }, `https://127.0.0.1:${proxy.port}`));
      const before = proxy.connections();
      assert.equal((await whoAmI(api)).username, 'rotating-cert-one');
      assert.equal((await whoAmI(api)).username, 'rotating-cert-one');
      assert.equal(proxy.connections() - before, 1);
      const second = clientCertificate('rotating-cert-two');
      plugin.set({ clientCertificateData: second.certPem, clientKeyData: second.keyPem });
      // client-node re-runs the plugin once the first credential's expirationTimestamp has passed.
      await new Promise((resolve) => setTimeout(resolve, 3_100));
      assert.equal((await whoAmI(api)).username, 'rotating-cert-two');
      assert.equal(proxy.connections() - before, 2, 'the new certificate needs a new TLS connection');
    });
  });
});
