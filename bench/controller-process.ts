// The controller under test as a child process running the real CLI as the image does (built by
// `npm run build`, with the Node flags of the shipped Deployment), so its memory is its own and as in a cluster:
// peak RSS from /proc/<pid>/status (VmHWM), V8 heap from its --trace-gc lines, counters from /metrics.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startComponent, type Component } from '../test/support/process.ts';
import { heapAfterFullGc, INSPECT_PORT_FLAG } from './full-gc.ts';
import { createMemoryCgroup, parseMemoryQuantity } from './memory-cgroup.ts';

interface DeploymentShape {
  kind?: string;
  spec?: { template?: { spec?: { containers?: Array<{ name?: string; command?: unknown; resources?: { limits?: { memory?: unknown } } }> } } };
}

function shippedContainer(root: string, where: { manifest?: string; container?: string }) {
  const path = join(root, where.manifest ?? join('manifests', 'base', 'deployment.yaml'));
  const container = where.container ?? 'controller';
  const deployment = parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => doc.toJS() as DeploymentShape)
    .find((doc) => doc?.kind === 'Deployment');
  return { path, container, spec: deployment?.spec?.template?.spec?.containers?.find((c) => c.name === container) };
}

/** The memory limit of a container in a shipped Deployment manifest, bytes; undefined: none set. */
export function shippedMemoryLimit(root: string, where: { manifest?: string; container?: string } = {}): number | undefined {
  const memory = shippedContainer(root, where).spec?.resources?.limits?.memory;
  return typeof memory === 'string' ? parseMemoryQuantity(memory) : undefined;
}

/**
 * Builds src/ as `npm run build` does (hack/build.ts: the esbuild bundle the image runs), into a fresh
 * directory inside the checkout, and returns its main.js. `npm run build` in a child, on `nodeBinary`.
 */
export function buildController(root: string, nodeBinary: string, outDirName = '.build-bench'): string {
  const outDir = join(root, outDirName);
  execFileSync(nodeBinary, [join(root, 'hack', 'build.ts'), outDir], { cwd: root, stdio: 'inherit' });
  return join(outDir, 'main.js');
}

/**
 * The Node flags of a container in a shipped Deployment manifest: its `command` is
 * `node <flags> /app/dist/main.js`. Read from the manifest, so the bench measures what ships.
 * Default: the controller in manifests/base/deployment.yaml.
 */
export function shippedNodeFlags(root: string, where: { manifest?: string; container?: string } = {}): string[] {
  const { path, container, spec } = shippedContainer(root, where);
  const command = spec?.command;
  if (command === undefined) return [];
  if (!Array.isArray(command) || command[0] !== 'node' || !command.every((part) => typeof part === 'string')) {
    throw new Error(`${path}: the ${container}'s command is not \`node <flags> <script>\``);
  }
  return command.slice(1, -1);
}

export interface ControllerProcessOptions {
  root: string;
  nodeBinary: string;
  args: readonly string[];
  /** Node flags: the shipped Deployment's (shippedNodeFlags), plus any for diagnosis (e.g. --cpu-prof). */
  nodeFlags?: readonly string[];
  /** The CLI to run: the compiled main.js the image ships (buildController), not src/main.ts. */
  script: string;
  logFile: string;
  startTimeoutMs?: number;
  /** Run it in a memory cgroup of this limit, as its Pod would (memory-cgroup.ts); undefined: none. */
  memoryLimitBytes?: number;
}

export interface ProcessMemory {
  /** Peak resident set size so far (VmHWM), MiB. */
  peakRssMiB: number;
  /** Resident set size now (VmRSS), MiB. */
  rssMiB: number;
}

export interface HeapStats {
  /** Largest V8 heap in use seen before any GC, MiB. */
  peakUsedMiB: number;
  /** Largest V8 heap committed (reserved by V8) seen, MiB. */
  peakCommittedMiB: number;
  /** Heap in use after the latest full (mark-compact) GC: what the process really retains, MiB. */
  retainedMiB: number | undefined;
  fullGcs: number;
}

export interface ControllerProcess {
  readonly pid: number;
  readonly opsPort: number;
  readonly logFile: string;
  /** The memory cgroup it runs in (its limit and where), or why none. */
  readonly memoryCgroup: string;
  /** OOM kills in its cgroup so far (0 without one). */
  oomKills(): number;
  metrics(): Promise<string>;
  memory(): ProcessMemory;
  heap(): HeapStats;
  /** A full GC forced now (bench/full-gc.ts), then the V8 heap in use: what the process retains, MiB. */
  retainedAfterFullGc(): Promise<number>;
  /** SIGTERM (graceful: drain, release the Lease), SIGKILL after 5 s. */
  stop(): Promise<void>;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The ops port from the controller's "controller starting" log line (it listens on 127.0.0.1:0). */
function findOpsPort(logFile: string): number | undefined {
  for (const line of readLog(logFile).split('\n')) {
    if (!line.startsWith('{') || !line.includes('"opsPort"')) continue;
    try {
      const port = (JSON.parse(line) as { opsPort?: number }).opsPort;
      if (typeof port === 'number') return port;
    } catch {
      // a partial line: read again on the next probe
    }
  }
  return undefined;
}

export function parseGcTrace(text: string): HeapStats {
  const stats: HeapStats = { peakUsedMiB: 0, peakCommittedMiB: 0, retainedMiB: undefined, fullGcs: 0 };
  const pattern = /ms: (Scavenge|Mark-Compact|Mark-Compact \(reduce\)|Minor Mark-Sweep|Mark-Sweep)[^\d]*?([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;
  for (const line of text.split('\n')) {
    if (!line.startsWith('[')) continue;
    const match = pattern.exec(line);
    if (!match) continue;
    const [, kind, before, committedBefore, after, committedAfter] = match;
    stats.peakUsedMiB = Math.max(stats.peakUsedMiB, Number(before));
    stats.peakCommittedMiB = Math.max(stats.peakCommittedMiB, Number(committedBefore), Number(committedAfter));
    if (kind!.startsWith('Mark-Compact')) {
      stats.retainedMiB = Number(after);
      stats.fullGcs++;
    }
  }
  return stats;
}

export function readProcessMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024 };
}

/** User + system CPU seconds in a /proc stat line (USER_HZ is 100 on Linux). */
function statCpuSeconds(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds of a Node process so far: all of it, and by thread (threads that have exited count in `total` only). */
export interface ProcessCpu {
  total: number;
  /** The JavaScript thread. */
  main: number;
  /** V8's platform workers: concurrent GC marking and sweeping, background compilation. */
  v8Workers: number;
  /** libuv's thread pool: file writes (the log), DNS, crypto jobs. */
  libuv: number;
}

export function readProcessCpu(pid: number): ProcessCpu {
  const cpu: ProcessCpu = { total: statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8')), main: 0, v8Workers: 0, libuv: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let comm: string;
    let seconds: number;
    try {
      comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      seconds = statCpuSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    } catch {
      continue; // the thread ended meanwhile
    }
    if (tid === String(pid)) cpu.main += seconds;
    else if (comm === 'V8Worker') cpu.v8Workers += seconds;
    else if (comm === 'libuv-worker') cpu.libuv += seconds;
  }
  return cpu;
}

export async function startControllerProcess(options: ControllerProcessOptions): Promise<ControllerProcess> {
  let opsPort: number | undefined;
  // --trace-gc and the inspector's port (full-gc.ts) are the bench's; they change no heap or GC setting.
  const nodeArgs = ['--trace-gc', INSPECT_PORT_FLAG, ...(options.nodeFlags ?? []), options.script, 'controller', ...options.args];
  const cgroup = options.memoryLimitBytes === undefined ? undefined : createMemoryCgroup(`kube-regcred-bench-${process.pid}-${++cgroups}`, options.memoryLimitBytes);
  const run = cgroup ? cgroup.wrap(options.nodeBinary, nodeArgs) : { command: options.nodeBinary, args: nodeArgs };
  let component: Component;
  try {
    component = await startComponent({
      name: 'kube-regcred controller',
      command: run.command,
      args: run.args,
      cwd: options.root,
      // Only what the controller needs: no KUBE_REGCRED_* from the caller's shell leaks into the run.
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
      logFile: options.logFile,
      ready: async () => {
        opsPort ??= findOpsPort(options.logFile);
        if (opsPort === undefined) return false;
        const res = await fetch(`http://127.0.0.1:${opsPort}/readyz`, { signal: AbortSignal.timeout(1000) });
        return res.status === 200;
      },
      startTimeoutMs: options.startTimeoutMs ?? 300_000,
    });
  } catch (err) {
    cgroup?.remove();
    throw err;
  }
  const port = opsPort!;
  const limitText = options.memoryLimitBytes === undefined ? '' : `${(options.memoryLimitBytes / 2 ** 20).toFixed(0)} MiB`;
  return {
    pid: component.pid,
    opsPort: port,
    logFile: options.logFile,
    memoryCgroup: cgroup ? `${limitText} (${cgroup.description})` : options.memoryLimitBytes === undefined ? 'none (no limit asked for)' : `none: no writable memory cgroup here, so Node sized its heap from the machine, not from ${limitText}`,
    oomKills: () => cgroup?.oomKills() ?? 0,
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new Error(`controller /metrics: HTTP ${res.status}`);
      return res.text();
    },
    memory: () => readProcessMemory(component.pid),
    heap: () => parseGcTrace(readLog(options.logFile)),
    retainedAfterFullGc: async () => (await heapAfterFullGc(component.pid, options.logFile)) / 2 ** 20,
    stop: async () => {
      await component.stop();
      cgroup?.remove();
    },
  };
}

let cgroups = 0;
