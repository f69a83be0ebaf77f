// A real node for the test bed: containerd + the kubelet built from the bed's Go modules, registered as
// system:node:<name> with a client certificate, pulling images from loopback registries with the pull
// secrets (or the credential provider) under test. Everything it mounts lives in a private mount
// namespace, everything it runs in its own cgroup root; stop() (or, after a crash, the next start's sweep)
// removes both, so the host is left as it was.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeBinary, pauseBinary } from './binaries.ts';
import type { ControlPlane } from './control-plane.ts';
import {
  containerdConfig,
  kubeletConfiguration,
  kubeletKubeconfig,
  nodeLayout,
  registryHostsToml,
  type CredentialProviderSetup,
  type NodeLayout,
} from './node-config.ts';
import {
  createCgroupRoot,
  killNodeProcesses,
  NODE_DIR_PREFIX,
  nodeSkipReason,
  processStartTime,
  removeCgroupRoot,
  sweepStaleNodes,
  writeOwner,
} from './node-host.ts';
import { buildImage } from './oci-image.ts';
import { createPodNetwork, podNetworkSkipReason, removePodNetwork, type PodNetwork, type PodNetworkOptions } from './pod-network.ts';
import { KUBERNETES_SERVICE_IP } from './control-plane.ts';
import { issueCertificate } from './pki.ts';
import { freePort } from './ports.ts';
import { startComponent, type Component } from './process.ts';

export { nodeSkipReason } from './node-host.ts';

const run = promisify(execFile);

export interface NodeOptions {
  /** Registries containerd reaches over plain HTTP on loopback, as `127.0.0.1:PORT`. */
  registries?: string[];
  /** KEP-4412: the kubelet runs `<binDir>/<provider name>` as configured by this CredentialProviderConfig. */
  credentialProvider?: CredentialProviderSetup;
  /** Extra KubeletConfiguration fields, merged over the bed's (featureGates, imagePull... policies). */
  kubeletConfig?: Record<string, unknown>;
  /**
   * A pod network (test/support/pod-network.ts): Pods that are not hostNetwork get an address on a
   * bridge of the node's name and reach the apiserver at the `kubernetes` Service (10.96.0.1:443).
   * Without it the node's runtime network is not ready (the Node is NotReady) and only hostNetwork Pods run.
   * `{ fromHost: true }`: the host's own connections to those addresses are forwarded too.
   */
  podNetwork?: boolean | PodNetworkOptions;
}

export interface TestNode {
  /** The Node's name: Pods set spec.nodeName to it (the bed has no scheduler). */
  readonly name: string;
  readonly dir: string;
  readonly kubeletLog: string;
  readonly containerdLog: string;
  /** The kubelet's root directory (its image_manager records, pod volumes). */
  readonly kubeletRootDir: string;
  /** With `podNetwork`: the bridge, its subnet and gateway, and how Pods reach the host's loopback servers. */
  readonly podNetwork?: PodNetwork;
  /** Lets containerd reach one more loopback registry (containerd reads certs.d on every pull). */
  addRegistry(host: string): void;
  stop(): Promise<void>;
}

// The values the kubelet insists on; bind-mounted over /proc/sys inside the node's namespace, so that
// it finds them as it wants them and never writes the host's.
const KERNEL_TUNABLES: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

// The kubelet refuses a loopback node IP. TEST-NET-1 (RFC 5737) is never routed, and nothing is sent to
// it: the bed never asks the apiserver to reach the kubelet (no logs, exec or port-forward).
const NODE_IP = '192.0.2.2';

function nodeDirectories(node: NodeLayout): void {
  for (const sub of ['logs', 'pki', 'containerd', 'runc', 'cni/bin', 'cni/conf', 'certs.d', 'kubelet', 'kubelet-pki', 'pod-logs', 'sysctl', 'images']) {
    mkdirSync(join(node.dir, sub), { recursive: true });
  }
}

/** Mounts the node's private world inside its namespace: fresh /run, /var/lib, /var/log and the tunables. */
function namespaceSetupScript(node: NodeLayout): string {
  const lines = ['set -e'];
  // The kubelet hard-codes /var/lib/kubelet/device-plugins and /var/log/containers, and the shims use
  // /run/containerd: in the namespace these are empty tmpfs that vanish with it.
  for (const dir of ['/run', '/var/lib', '/var/log']) lines.push(`mount -t tmpfs -o mode=0755 tmpfs ${dir}`);
  for (const [path, value] of Object.entries(KERNEL_TUNABLES)) {
    const file = join(node.dir, 'sysctl', path.replaceAll('/', '.'));
    writeFileSync(file, `${value}\n`);
    lines.push(`mount --bind ${JSON.stringify(file)} /proc/sys/${path}`);
  }
  return lines.join('\n');
}

async function importSandboxImage(node: NodeLayout): Promise<void> {
  const layout = buildImage(join(node.dir, 'images', 'pause'), {
    files: [{ name: 'pause', content: readFileSync(pauseBinary()), mode: 0o755 }],
    entrypoint: ['/pause'],
    annotations: { 'io.containerd.image.name': node.sandboxImage },
  });
  const archive = join(node.dir, 'images', 'pause.tar');
  await run('tar', ['-C', layout, '-cf', archive, '.']);
  await run('ctr', ['--address', node.containerdSocket, '--namespace', 'k8s.io', 'images', 'import', archive]);
}

async function nodeRegistered(cp: ControlPlane, name: string): Promise<boolean> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  return core.readNode({ name }).then(() => true, () => false);
}

export async function startNode(cp: ControlPlane, options: NodeOptions = {}): Promise<TestNode> {
  const skip = nodeSkipReason() ?? (options.podNetwork ? podNetworkSkipReason() : undefined);
  if (skip) throw new Error(`cannot start a test node: ${skip}`);
  const kubelet = kubeBinary('kubelet');
  await sweepStaleNodes();

  const dir = mkdtempSync(join(tmpdir(), NODE_DIR_PREFIX));
  const name = `bed-node-${randomBytes(3).toString('hex')}`;
  const node = nodeLayout(name, dir, { kubelet: await freePort(), healthz: await freePort() });
  const owner = { pid: process.pid, pidStart: processStartTime(process.pid) ?? '', name };
  writeOwner(dir, owner);
  nodeDirectories(node);
  const logs = join(dir, 'logs');
  const kubeletLog = join(logs, 'kubelet.log');
  const containerdLog = join(logs, 'containerd.log');

  const components: Component[] = [];
  let nsId: string | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // The kubelet first, so that nothing restarts what is killed next.
    await components.find((c) => c.name === 'kubelet')?.stop();
    await killNodeProcesses(nsId, name, dir);
    for (const component of components.reverse()) await component.stop();
    await removeCgroupRoot(name);
    if (options.podNetwork) await removePodNetwork(name);
    const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    await core.deleteNode({ name }).catch(() => undefined);
    if (!process.env.KUBE_REGCRED_KEEP_TESTBED) rmSync(dir, { recursive: true, force: true });
  };

  try {
    createCgroupRoot(name);

    const nsFile = join(dir, 'mnt-ns');
    const ownNs = readlinkSync('/proc/self/ns/mnt');
    const holder = await startComponent({
      name: 'node mount namespace',
      command: 'unshare',
      args: ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'readlink /proc/$$/ns/mnt > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep infinity', 'sh', nsFile],
      logFile: join(logs, 'namespace.log'),
      ready: async () => existsSync(nsFile) && readFileSync(nsFile, 'utf8').trim() !== ownNs,
      startTimeoutMs: 10_000,
    });
    components.push(holder);
    nsId = readFileSync(nsFile, 'utf8').trim();
    writeOwner(dir, { ...owner, nsId });
    const inNamespace = ['--target', String(holder.pid), '--mount', '--'];
    await run('nsenter', [...inNamespace, 'sh', '-c', namespaceSetupScript(node)]);

    const podNetwork = options.podNetwork
      ? await createPodNetwork(name, dir, [{ ip: KUBERNETES_SERVICE_IP, port: 443, to: new URL(cp.server).host }], options.podNetwork === true ? {} : options.podNetwork)
      : undefined;
    writeFileSync(join(dir, 'containerd', 'config.toml'), containerdConfig(node));
    const addRegistry = (host: string): void => {
      mkdirSync(join(dir, 'certs.d', host), { recursive: true });
      writeFileSync(join(dir, 'certs.d', host, 'hosts.toml'), registryHostsToml(host));
    };
    for (const host of options.registries ?? []) addRegistry(host);
    components.push(
      await startComponent({
        name: 'containerd',
        command: 'nsenter',
        args: [...inNamespace, 'containerd', '--config', join(dir, 'containerd', 'config.toml'), '--log-level', 'info'],
        logFile: containerdLog,
        ready: async () => existsSync(node.containerdSocket) && (await run('ctr', ['--address', node.containerdSocket, 'version']).then(() => true, () => false)),
        startTimeoutMs: 30_000,
      }),
    );
    await importSandboxImage(node);

    const ca = { dir: join(dir, 'pki'), certFile: cp.caFile, keyFile: cp.caKeyFile, certPem: cp.caPem, keyPem: '' };
    const client = issueCertificate(ca, { commonName: `system:node:${name}`, organizations: ['system:nodes'], fileStem: 'kubelet-client' });
    const kubeconfig = join(dir, 'kubelet.kubeconfig');
    writeFileSync(kubeconfig, kubeletKubeconfig(cp.server, cp.caFile, client.certFile, client.keyFile), { mode: 0o600 });
    const configFile = join(dir, 'kubelet-config.json');
    writeFileSync(configFile, JSON.stringify(kubeletConfiguration(node, cp.caFile, options.kubeletConfig)));
    const providerArgs: string[] = [];
    if (options.credentialProvider) {
      const providerConfig = join(dir, 'credential-provider-config.json');
      writeFileSync(providerConfig, JSON.stringify(options.credentialProvider.config));
      providerArgs.push(`--image-credential-provider-config=${providerConfig}`, `--image-credential-provider-bin-dir=${options.credentialProvider.binDir}`);
    }
    components.push(
      await startComponent({
        name: 'kubelet',
        command: 'nsenter',
        args: [
          ...inNamespace, kubelet,
          `--config=${configFile}`, `--kubeconfig=${kubeconfig}`,
          `--hostname-override=${name}`, `--node-ip=${NODE_IP}`,
          `--root-dir=${join(dir, 'kubelet')}`, `--cert-dir=${join(dir, 'kubelet-pki')}`,
          ...providerArgs,
          '--v=2',
        ],
        logFile: kubeletLog,
        ready: async () => {
          const healthz = await fetch(`http://127.0.0.1:${node.healthzPort}/healthz`, { signal: AbortSignal.timeout(1000) });
          return healthz.status === 200 && (await nodeRegistered(cp, name));
        },
        startTimeoutMs: 60_000,
      }),
    );
    return { name, dir, kubeletLog, containerdLog, kubeletRootDir: join(dir, 'kubelet'), ...(podNetwork ? { podNetwork } : {}), addRegistry, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
