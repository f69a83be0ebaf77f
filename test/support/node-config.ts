// The test node's configuration files, as pure functions of its layout: containerd's config.toml, the
// kubelet's KubeletConfiguration and kubeconfig, and the certs.d entry that lets containerd reach a
// loopback registry over plain HTTP. Every path is under the node's own directory.
import { join } from 'node:path';

export interface NodeLayout {
  name: string;
  dir: string;
  containerdSocket: string;
  /** The image the CRI plugin runs as each Pod's sandbox; imported into containerd, never pulled. */
  sandboxImage: string;
  kubeletPort: number;
  healthzPort: number;
}

export function nodeLayout(name: string, dir: string, ports: { kubelet: number; healthz: number }): NodeLayout {
  return {
    name,
    dir,
    containerdSocket: join(dir, 'containerd.sock'),
    sandboxImage: 'kube-regcred.test/pause:local',
    kubeletPort: ports.kubelet,
    healthzPort: ports.healthz,
  };
}

const toml = (value: string): string => JSON.stringify(value);

export function containerdConfig(node: NodeLayout): string {
  const d = node.dir;
  return `version = 2
root = ${toml(join(d, 'containerd', 'root'))}
state = ${toml(join(d, 'containerd', 'state'))}
# Snapshotters and plugins that would probe host devices or need kernel modules the test does not use.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${toml(node.containerdSocket)}
[ttrpc]
  address = ${toml(`${node.containerdSocket}.ttrpc`)}
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${toml(join(d, 'containerd', 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${toml(node.sandboxImage)}
  # This VM's root lacks CAP_SYS_RESOURCE: runc may only raise oom_score_adj, never lower it.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${toml(join(d, 'runc'))}
  # Empty unless the node has a pod network (pod-network.ts writes the bridge's configuration here).
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${toml(join(d, 'cni', 'bin'))}
    conf_dir = ${toml(join(d, 'cni', 'conf'))}
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ${toml(join(d, 'certs.d'))}
`;
}

/** containerd's hosts.toml for a registry served over plain HTTP on loopback (`127.0.0.1:PORT`). */
export function registryHostsToml(host: string): string {
  return `server = ${toml(`http://${host}`)}

[host.${toml(`http://${host}`)}]
  capabilities = ["pull", "resolve"]
`;
}

export interface CredentialProviderSetup {
  binDir: string;
  /** A kubelet.config.k8s.io/v1 CredentialProviderConfig. */
  config: Record<string, unknown>;
}

export function kubeletConfiguration(node: NodeLayout, caFile: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const d = node.dir;
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port: node.kubeletPort,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: node.healthzPort,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: caFile } },
    authorization: { mode: 'AlwaysAllow' },
    containerRuntimeEndpoint: `unix://${node.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    // Everything the node creates lives below its own cgroup, removed with it.
    cgroupRoot: `/${node.name}`,
    failCgroupV1: false,
    failSwapOn: false,
    // Host iptables are not the kubelet's to change (a pod network's one nat chain is pod-network.ts's).
    makeIPTablesUtilChains: false,
    // The kernel tunables the kubelet wants are bind-mounted in its namespace; were they off, it must
    // fail rather than write the host's /proc/sys.
    protectKernelDefaults: true,
    resolvConf: '',
    podLogsDir: join(d, 'pod-logs'),
    // Shared machines are busy and disks fill up: never evict or garbage-collect during a test.
    evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1Mi', 'imagefs.available': '1Mi' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
    ...extra,
  };
}

export function kubeletKubeconfig(server: string, caFile: string, certFile: string, keyFile: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'test-bed', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: 'node', user: { 'client-certificate': certFile, 'client-key': keyFile } }],
    contexts: [{ name: 'node', context: { cluster: 'test-bed', user: 'node' } }],
    'current-context': 'node',
  });
}
