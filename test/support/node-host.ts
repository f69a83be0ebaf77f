// What a test node does to the host, and how all of it is undone: the node's cgroup root in every
// hierarchy, the processes of its private mount namespace and of its cgroups, and, for a test process that
// died before it could stop its node, the sweep of what that node left behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, rmdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removePodNetwork } from './pod-network.ts';

export const NODE_DIR_PREFIX = 'kube-regcred-node-';

/** Why this machine cannot run a test node, or undefined when it can. */
export function nodeSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `a test node needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'a test node needs root (kubelet and containerd mount and create cgroups)';
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (!capEff || (BigInt(`0x${capEff}`) & (1n << 21n)) === 0n) return 'a test node needs CAP_SYS_ADMIN (mount namespaces, overlay mounts)';
  if (!/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'))) return 'a test node needs overlayfs (containerd\'s snapshotter), and this kernel has none';
  if (cgroupMounts().every((m) => m.version === 2)) return 'the test node supports cgroup v1 hierarchies only, and this machine has cgroup v2 alone';
  for (const command of ['unshare', 'nsenter', 'containerd', 'ctr', 'runc']) {
    if (!onPath(command)) return `a test node needs ${command} (hack/ensure.sh installs it from Debian)`;
  }
  return undefined;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)));
}

interface CgroupMount {
  path: string;
  version: 1 | 2;
  controllers: string[];
}

export function cgroupMounts(): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after) continue;
    const [fsType, , superOptions = ''] = after.split(' ');
    const path = before.split(' ')[4];
    if (!path) continue;
    if (fsType === 'cgroup2') mounts.push({ path, version: 2, controllers: [] });
    if (fsType === 'cgroup') mounts.push({ path, version: 1, controllers: superOptions.split(',') });
  }
  return mounts;
}

/** Creates `/<name>` in every cgroup hierarchy, as the kubelet's cgroupRoot must exist in each. */
export function createCgroupRoot(name: string): void {
  for (const mount of cgroupMounts()) {
    const dir = join(mount.path, name);
    mkdirSync(dir, { recursive: true });
    if (mount.controllers.includes('cpuset')) {
      // A new cpuset is empty: no process could run in it until it gets the parent's CPUs and nodes.
      for (const file of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, file), readFileSync(join(mount.path, file)));
    }
  }
}

/**
 * Every pid whose mount namespace is the node's or that runs in a cgroup below `/<cgroupName>`. A
 * namespace's `mnt:[inode]` is reused by the kernel for the next namespace as soon as it is freed (often a
 * container's, in a busy run), so a match counts only when the process also sees the node's own mounts
 * (its sysctl bind mounts from `nodeDir`): otherwise a kill loop could go on to kill another test's Pods.
 */
export function nodeProcesses(nsId: string | undefined, cgroupName: string, nodeDir?: string): number[] {
  const marker = nodeDir === undefined ? undefined : `/${basename(nodeDir)}/`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      if (nsId && readlinkSync(`/proc/${pid}/ns/mnt`) === nsId && (!marker || readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(marker))) {
        pids.push(pid);
        continue;
      }
      const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (cgroups.split('\n').some((line) => line.split(':')[2]?.startsWith(`/${cgroupName}/`) || line.endsWith(`:/${cgroupName}`))) {
        pids.push(pid);
      }
    } catch {
      // Gone while we looked.
    }
  }
  return pids;
}

/** SIGKILLs what `nodeProcesses` finds until nothing is left (containers, shims, containerd, kubelet). */
export async function killNodeProcesses(nsId: string | undefined, cgroupName: string, nodeDir: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = nodeProcesses(nsId, cgroupName, nodeDir);
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`test node ${cgroupName}: processes ${pids.join(', ')} survived SIGKILL`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sleep(100);
  }
}

/** Removes `/<name>` and everything below it from every hierarchy (deepest first, as rmdir needs). */
export async function removeCgroupRoot(name: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const mount of cgroupMounts()) {
    const root = join(mount.path, name);
    if (!existsSync(root)) continue;
    const dirs: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
      dirs.push(dir);
    };
    walk(root);
    for (const dir of dirs) {
      for (;;) {
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          // A cgroup is busy for a moment after its last process is reaped.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
          if (Date.now() > deadline) throw new Error(`cannot remove cgroup ${dir}: ${(err as Error).message}`);
          await sleep(50);
        }
      }
    }
  }
}

export interface NodeOwner {
  /** The test process that started the node, and its start time (so a reused pid is not mistaken). */
  pid: number;
  pidStart: string;
  name: string;
  nsId?: string;
}

export function processStartTime(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat, counted after the command name (which may hold spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function writeOwner(dir: string, owner: NodeOwner): void {
  writeFileSync(join(dir, 'owner.json'), JSON.stringify(owner));
}

/**
 * Removes what nodes of test processes that died without stopping them left: their processes, cgroups and
 * directories. Nodes of live test processes (another test file of this run) are left alone.
 */
export async function sweepStaleNodes(): Promise<string[]> {
  const swept: string[] = [];
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(NODE_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    let owner: NodeOwner;
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as NodeOwner;
    } catch {
      continue; // Being set up right now, or not ours.
    }
    if (processStartTime(owner.pid) === owner.pidStart) continue;
    await killNodeProcesses(owner.nsId, owner.name, dir);
    await removeCgroupRoot(owner.name);
    // Its bridge and nat chain, when it had a pod network (nothing to remove otherwise).
    await removePodNetwork(owner.name);
    rmSync(dir, { recursive: true, force: true });
    swept.push(owner.name);
  }
  return swept;
}

/** The host's iptables chains named KUBE-*, to prove that a node added none. */
export function kubeIptablesChains(): string[] {
  const chains: string[] = [];
  for (const command of ['iptables', 'ip6tables']) {
    if (!onPath(command)) continue;
    for (const table of ['filter', 'nat', 'mangle']) {
      let rules = '';
      try {
        rules = execFileSync(command, ['-w', '5', '-t', table, '-S'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      } catch {
        continue; // No such table in this kernel.
      }
      for (const line of rules.split('\n')) if (/KUBE-/.test(line)) chains.push(`${command} ${table}: ${line}`);
    }
  }
  return chains;
}

/** Host mounts whose source or target lies under `dir`. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(dir));
}
