// The controller under test as a child process running the real CLI as the image does (built by
// `npm run build`, with the Node flags of the shipped Deployment), so its memory is its own and as in a cluster:
// peak RSS from /proc/<pid>/status (VmHWM), V8 heap from its --trace-gc lines, counters from /metrics.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startComponent, type Component } from '../test/support/process.ts';
import { heapAfterFullGc, INSPECT_PORT_FLAG } from './full-gc.ts';

interface DeploymentShape {
  kind?: string;
  spec?: { template?: { spec?: { containers?: Array<{ name?: string; command?: unknown }> } } };
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
  const path = join(root, where.manifest ?? join('manifests', 'base', 'deployment.yaml'));
  const container = where.container ?? 'controller';
  const deployment = parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => doc.toJS() as DeploymentShape)
    .find((doc) => doc?.kind === 'Deployment');
  const command = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === container)?.command;
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

export async function startControllerProcess(options: ControllerProcessOptions): Promise<ControllerProcess> {
  let opsPort: number | undefined;
  const component: Component = await startComponent({
    name: 'kube-regcred controller',
    command: options.nodeBinary,
    // --trace-gc and the inspector's port (full-gc.ts) are the bench's; they change no heap or GC setting.
    args: ['--trace-gc', INSPECT_PORT_FLAG, ...(options.nodeFlags ?? []), options.script, 'controller', ...options.args],
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
  const port = opsPort!;
  return {
    pid: component.pid,
    opsPort: port,
    logFile: options.logFile,
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(30_000) });
      if (!res.ok) throw new Error(`controller /metrics: HTTP ${res.status}`);
      return res.text();
    },
    memory: () => readProcessMemory(component.pid),
    heap: () => parseGcTrace(readLog(options.logFile)),
    retainedAfterFullGc: async () => (await heapAfterFullGc(component.pid, options.logFile)) / 2 ** 20,
    stop: () => component.stop(),
  };
}
