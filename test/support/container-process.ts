// A Pod's container as it runs, seen from the host: its processes (found by the container ID in their
// cgroup paths), and what the kernel says about them, so that a test checks the securityContext as
// applied by the kubelet, containerd and runc, not as written in the manifest.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupMounts } from './node-host.ts';

/** The pids of the container (`containerd://<id>` or the bare id), oldest first. */
export function containerPids(containerId: string): number[] {
  const id = containerId.replace(/^containerd:\/\//, '');
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(id);
      } catch {
        return false;
      }
    })
    .map(Number)
    .sort((a, b) => a - b);
}

export interface ProcessFacts {
  /** Real, effective, saved and filesystem UIDs (and GIDs), from /proc/<pid>/status. */
  uids: number[];
  gids: number[];
  /** Effective capabilities, as hex. */
  capEff: string;
  /** allowPrivilegeEscalation: false sets no_new_privs. */
  noNewPrivs: boolean;
  /** 2: a seccomp filter (RuntimeDefault) is in force. */
  seccompMode: number;
  /** The mount options of the container's `/`. */
  rootMountOptions: string[];
  rssBytes: number;
  /** Of that, anonymous memory (the heap): the rest is file pages, the node binary's mapped text mostly. */
  rssAnonBytes: number;
  /** The memory cgroup (v1) of the process: what it charges and the limit the kubelet set. */
  memoryCgroup?: { usageBytes: number; limitBytes: number; rssBytes: number };
  environ: Record<string, string>;
  argv: string[];
}

function statusField(status: string, field: string): string {
  const value = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1];
  if (value === undefined) throw new Error(`/proc status has no ${field}`);
  return value.trim();
}

function memoryCgroup(pid: number): ProcessFacts['memoryCgroup'] {
  const mount = cgroupMounts().find((m) => m.version === 1 && m.controllers.includes('memory'));
  const path = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find(([, controllers]) => controllers?.split(',').includes('memory'))?.[2];
  if (!mount || !path) return undefined;
  const dir = join(mount.path, path);
  const read = (file: string): number => Number(readFileSync(join(dir, file), 'utf8').trim());
  const stat = readFileSync(join(dir, 'memory.stat'), 'utf8');
  return {
    usageBytes: read('memory.usage_in_bytes'),
    limitBytes: read('memory.limit_in_bytes'),
    rssBytes: Number(/^total_rss (\d+)$/m.exec(stat)?.[1] ?? /^rss (\d+)$/m.exec(stat)?.[1] ?? NaN),
  };
}

const kB = (value: string): number => Number(value.replace(/\s*kB$/, '')) * 1024;

export function processFacts(pid: number): ProcessFacts {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  // mountinfo: "id parent major:minor root mountpoint options ..." — the entry for `/` seen by the process.
  const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[4] === '/')
    .at(-1);
  const environ = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
  return {
    uids: statusField(status, 'Uid').split(/\s+/).map(Number),
    gids: statusField(status, 'Gid').split(/\s+/).map(Number),
    capEff: statusField(status, 'CapEff'),
    noNewPrivs: statusField(status, 'NoNewPrivs') === '1',
    seccompMode: Number(statusField(status, 'Seccomp')),
    rootMountOptions: root?.[5]?.split(',') ?? [],
    rssBytes: kB(statusField(status, 'VmRSS')),
    rssAnonBytes: kB(statusField(status, 'RssAnon')),
    memoryCgroup: memoryCgroup(pid),
    environ,
    argv: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean),
  };
}

/** A file as the container sees it (through /proc/<pid>/root: its mount namespace, its tmpfs volumes). */
export function readInContainer(pid: number, path: string): string {
  return readFileSync(`/proc/${pid}/root${path}`, 'utf8');
}
