// A pod network for the test node, so that Pods run as shipped (not hostNetwork): Debian's bridge CNI
// plugin puts each Pod on a bridge named after the node, in a /24 of the node's own, and a nat chain of the
// node's name forwards what Pods dial to the servers the bed runs on the host's loopback: the `kubernetes`
// Service (ClusterIP:443 to the apiserver), any port the test exposes at the bridge's gateway address, and
// a Service the test forwards to its Pod (no kube-proxy runs).
// route_localnet on the node's own bridge (a setting of that interface alone) lets those packets reach
// 127.0.0.1. Nothing else of the host changes: no forwarding, no masquerade, no KUBE-* chain; remove()
// (also run by the stale-node sweep) deletes the chain, its jumps and the bridge.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where Debian's containernetworking-plugins installs the plugins. */
const CNI_PLUGINS = '/usr/lib/cni';
const PLUGINS = ['bridge', 'host-local', 'loopback'];

export interface Forward {
  /** Where Pods dial: an IP address and a TCP port. */
  ip: string;
  port: number;
  /** The host's loopback server behind it, `127.0.0.1:PORT`. */
  to: string;
}

export interface PodNetwork {
  /** The bridge and the nat chain: both named after the node. */
  readonly name: string;
  readonly subnet: string;
  /** The bridge's own address, the Pods' default gateway. */
  readonly gateway: string;
  /**
   * Makes a loopback server of the host reachable from Pods at `<gateway>:<port>`; returns that address.
   * Pods cannot dial 127.0.0.1 (theirs is their own), so this is how they reach the bed's sts or registry.
   */
  expose(hostPort: number): Promise<string>;
  /**
   * One more DNAT, from Pods and from the host: what the bed has instead of kube-proxy, for a Service whose
   * ClusterIP a test pinned, to the Pod that serves it.
   */
  forward(f: Forward): Promise<void>;
}

export function podNetworkSkipReason(): string | undefined {
  for (const command of ['ip', 'iptables']) {
    if (!(process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)))) return `a pod network needs ${command} (iproute2, iptables)`;
  }
  for (const plugin of PLUGINS) {
    if (!existsSync(join(CNI_PLUGINS, plugin))) return `a pod network needs the ${plugin} CNI plugin in ${CNI_PLUGINS} (Debian containernetworking-plugins; hack/ensure.sh installs it)`;
  }
  return undefined;
}

/** The CNI network configuration list containerd reads from its conf_dir (pure). */
export function cniConfList(name: string, subnet: string, gateway: string, ipamDir: string): string {
  return JSON.stringify({
    cniVersion: '0.4.0',
    name,
    plugins: [
      {
        type: 'bridge',
        bridge: name,
        isGateway: true,
        // No masquerade: Pods reach only the bed's servers, never beyond the host.
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet, gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir },
      },
    ],
  });
}

async function iptables(...args: string[]): Promise<void> {
  await run('iptables', ['-w', '5', '-t', 'nat', ...args]);
}

/** A 10.244.N.0/24 that no route of the host covers (the bridges of other nodes included). */
async function freeSubnet(): Promise<number> {
  const { stdout } = await run('ip', ['-4', 'route', 'show', 'table', 'all']);
  const used = new Set([...stdout.matchAll(/\b10\.244\.(\d+)\.0\/24\b/g)].map((m) => Number(m[1])));
  if (/\b10\.(244\.0\.0\/16|0\.0\.0\/8)\b/.test(stdout)) throw new Error('the host routes 10.244.0.0/16 itself: no subnet for a pod network');
  const start = Math.floor(Math.random() * 250) + 1;
  for (let i = 0; i < 250; i++) {
    const n = ((start + i) % 250) + 1;
    if (!used.has(n)) return n;
  }
  throw new Error('every 10.244.N.0/24 is routed already');
}

/**
 * Creates the bridge (before containerd, so route_localnet is set before the first Pod) and the nat chain,
 * and writes the CNI configuration into `<nodeDir>/cni`. `forwards` are set up at once (the kubernetes
 * Service); `expose` adds more later.
 */
export interface PodNetworkOptions {
  /**
   * The host's own connections to the forwarded addresses are forwarded too (a nat OUTPUT jump): for an
   * issuer at the `kubernetes` ClusterIP that an sts on the host reads, or a realm at a Service IP that
   * containerd and skopeo follow. The addresses are the same for every node, so at most one node per
   * host may have this at a time (the first jump would win); Pods' forwards are per bridge and never clash.
   */
  fromHost?: boolean;
}

export async function createPodNetwork(name: string, nodeDir: string, forwards: Forward[], options: PodNetworkOptions = {}): Promise<PodNetwork> {
  if (name.length > 15) throw new Error(`${name}: a bridge name has at most 15 characters`);
  const n = await freeSubnet();
  const subnet = `10.244.${n}.0/24`;
  const gateway = `10.244.${n}.1`;
  await run('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${gateway}/24`, 'dev', name]);
  await run('ip', ['link', 'set', name, 'up']);
  writeFileSync(`/proc/sys/net/ipv4/conf/${name}/route_localnet`, '1\n');

  await iptables('-N', name);
  // From Pods (in through the bridge), and, if asked, from the host itself.
  await iptables('-A', 'PREROUTING', '-i', name, '-j', name);
  if (options.fromHost) await iptables('-A', 'OUTPUT', '-j', name);
  const forward = (f: Forward): Promise<void> =>
    iptables('-A', name, '-d', `${f.ip}/32`, '-p', 'tcp', '--dport', String(f.port), '-j', 'DNAT', '--to-destination', f.to);
  for (const f of forwards) await forward(f);

  const binDir = join(nodeDir, 'cni', 'bin');
  for (const plugin of PLUGINS) symlinkSync(join(CNI_PLUGINS, plugin), join(binDir, plugin));
  const ipamDir = join(nodeDir, 'cni', 'ipam');
  mkdirSync(ipamDir, { recursive: true });
  writeFileSync(join(nodeDir, 'cni', 'conf', '10-bed.conflist'), cniConfList(name, subnet, gateway, ipamDir));

  return {
    name,
    subnet,
    gateway,
    async expose(hostPort) {
      await forward({ ip: gateway, port: hostPort, to: `127.0.0.1:${hostPort}` });
      return `${gateway}:${hostPort}`;
    },
    forward,
  };
}

/** Deletes the jumps to the node's chain, the chain, and its bridge; what is already gone is skipped. */
export async function removePodNetwork(name: string): Promise<void> {
  for (const jump of [['PREROUTING', '-i', name, '-j', name], ['OUTPUT', '-j', name]]) {
    // -D removes one matching rule per call: loop until none is left.
    while (await iptables('-D', ...jump).then(() => true, () => false));
  }
  await iptables('-F', name).catch(() => undefined);
  await iptables('-X', name).catch(() => undefined);
  if (existsSync(`/sys/class/net/${name}`)) await run('ip', ['link', 'del', name]);
}

/** What of the node's pod network the host still has: its bridge, and nat rules naming it. */
export async function podNetworkLeftovers(name: string): Promise<string[]> {
  const left: string[] = [];
  if (existsSync(`/sys/class/net/${name}`)) left.push(`interface ${name}`);
  const { stdout } = await run('iptables', ['-w', '5', '-t', 'nat', '-S']);
  for (const line of stdout.split('\n')) if (line.includes(name)) left.push(`iptables nat: ${line}`);
  const links = await run('ip', ['-o', 'link', 'show', 'master', name]).then((r) => r.stdout.trim(), () => '');
  if (links) left.push(`ports of ${name}: ${links}`);
  return left;
}
