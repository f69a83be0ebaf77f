// The controller under the memory limit its Deployment ships with, as in a Pod: a memory cgroup of
// its own with that limit. Node sizes V8's heap from the cgroup's limit (uv_get_constrained_memory),
// so without one the bench would measure a heap sized from the whole machine. Needs a writable
// cgroup hierarchy (root, cgroup v1 `memory` or v2 with the memory controller); otherwise the bench
// runs without one and says so.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryCgroup {
  /** Where it is, for the report: `cgroup v1 /sys/fs/cgroup/memory/…`. */
  readonly description: string;
  readonly limitBytes: number;
  /** The command that moves itself into the cgroup, then runs `command args` in its place (same pid). */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] };
  /** Times the cgroup's processes were OOM-killed (v2: oom_kill in memory.events; v1: oom_kill in memory.oom_control). */
  oomKills(): number;
  /** Removes the cgroup; its processes must have exited. */
  remove(): void;
}

/** A Kubernetes memory quantity (`256Mi`, `1Gi`, `500M`, `1048576`) in bytes. */
export function parseMemoryQuantity(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity.trim());
  if (!match) throw new Error(`not a memory quantity this bench reads: ${quantity}`);
  const scale: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 };
  return Number(match[1]) * (match[2] === undefined ? 1 : scale[match[2]]!);
}

const V1_ROOT = '/sys/fs/cgroup/memory';
const V2_ROOT = '/sys/fs/cgroup';

function readNumber(file: string, key: string): number {
  try {
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${key} `));
    return line === undefined ? 0 : Number(line.split(' ')[1]);
  } catch {
    return 0;
  }
}

/** A new memory cgroup limited to `limitBytes`, or undefined when this machine does not let us make one. */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup | undefined {
  const v1 = existsSync(join(V1_ROOT, 'memory.limit_in_bytes'));
  const v2 = !v1 && existsSync(join(V2_ROOT, 'cgroup.controllers')) && readFileSync(join(V2_ROOT, 'cgroup.subtree_control'), 'utf8').split(/\s+/).includes('memory');
  if (!v1 && !v2) return undefined;
  const dir = join(v1 ? V1_ROOT : V2_ROOT, name);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(limitBytes));
    // No swap here, and none in a kubelet's Pod: the limit is the limit.
    if (v1 && existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), String(limitBytes));
  } catch {
    try {
      rmdirSync(dir);
    } catch {
      // never made
    }
    return undefined;
  }
  return {
    description: `cgroup ${v1 ? 'v1' : 'v2'} ${dir}`,
    limitBytes,
    wrap(command, args) {
      // sh writes its own pid into the cgroup, then exec keeps that pid for the command.
      return { command: '/bin/sh', args: ['-c', 'echo $$ > "$0" && exec "$@"', join(dir, 'cgroup.procs'), command, ...args] };
    },
    oomKills: () => (v1 ? readNumber(join(dir, 'memory.oom_control'), 'oom_kill') : readNumber(join(dir, 'memory.events'), 'oom_kill')),
    remove() {
      try {
        rmdirSync(dir);
      } catch {
        // still busy (a process that outlived its stop) or gone: the name is unique, nothing reuses it
      }
    },
  };
}
