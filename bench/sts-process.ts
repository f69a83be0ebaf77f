// `kube-regcred sts` as the image runs it, for the token-service bench: the compiled CLI (what
// `npm run build` writes to dist/), the Node flags and process environment of the shipped sts Deployment,
// NODE_ENV=production as in the Dockerfile, and its CPU time and memory read from /proc.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { STS_ENV_PREFIX } from '../src/sts/options.ts';
import { startComponent, type Component } from '../test/support/process.ts';
import { readProcessMemory, shippedNodeFlags, type ProcessMemory } from './controller-process.ts';

export const STS_MANIFEST = join('manifests', 'components', 'sts', 'sts-deployment.yaml');

/** The sts container's Node flags in manifests/components/sts/sts-deployment.yaml. */
export function shippedStsNodeFlags(root: string): string[] {
  return shippedNodeFlags(root, { manifest: STS_MANIFEST, container: 'sts' });
}

interface ContainerEnvShape {
  kind?: string;
  spec?: { template?: { spec?: { containers?: Array<{ name?: string; env?: Array<{ name?: string; value?: unknown; valueFrom?: unknown }> }> } } };
}

/**
 * The sts container's environment in the Deployment that tunes the process (e.g. MALLOC_ARENA_MAX): the
 * literal values, not the KUBE_REGCRED_STS_* settings (in-cluster paths and addresses the bench gives
 * as flags). Read from the manifest, so the bench runs the process as it ships.
 */
export function shippedStsEnv(root: string): Record<string, string> {
  const path = join(root, STS_MANIFEST);
  const deployment = parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => doc.toJS() as ContainerEnvShape)
    .find((doc) => doc?.kind === 'Deployment');
  const env: Record<string, string> = {};
  for (const entry of deployment?.spec?.template?.spec?.containers?.find((c) => c.name === 'sts')?.env ?? []) {
    if (!entry.name || entry.name.startsWith(STS_ENV_PREFIX)) continue;
    if (typeof entry.value !== 'string') throw new Error(`${path}: the sts's env ${entry.name} has no literal value the bench can use`);
    env[entry.name] = entry.value;
  }
  return env;
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ): 100 on every Linux this runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU time of a process so far, in ms (10 ms resolution). */
export function readCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, so 12 and 13 after the name.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory now, split into anonymous (heap, stacks) and file-backed (the node binary's code) pages, MiB. */
export function readRssSplit(pid: number): { anonMiB: number; fileMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { anonMiB: kib('RssAnon') / 1024, fileMiB: kib('RssFile') / 1024 };
}

export interface StsProcess {
  readonly pid: number;
  readonly port: number;
  readonly opsPort: number;
  cpuMs(): number;
  memory(): ProcessMemory;
  rssSplit(): { anonMiB: number; fileMiB: number };
  signal(name: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export interface StsProcessOptions {
  root: string;
  nodeBinary: string;
  /** The compiled main.js (buildController). */
  script: string;
  configPath: string;
  nodeFlags: readonly string[];
  /** Environment beyond PATH, HOME and NODE_ENV (shippedStsEnv). */
  env?: Readonly<Record<string, string>>;
  logFile: string;
}

function listeningPorts(logFile: string): { port: number; opsPort: number } | undefined {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (!line.includes('token service listening')) continue;
    try {
      const entry = JSON.parse(line) as { port?: number; opsPort?: number };
      if (entry.port && entry.opsPort) return { port: entry.port, opsPort: entry.opsPort };
    } catch {
      // a partial line: read again on the next probe
    }
  }
  return undefined;
}

export async function startStsProcess(options: StsProcessOptions): Promise<StsProcess> {
  let ports: { port: number; opsPort: number } | undefined;
  const component: Component = await startComponent({
    name: 'kube-regcred sts',
    command: options.nodeBinary,
    args: [...options.nodeFlags, options.script, 'sts', '--config', options.configPath, '--listen-address', '127.0.0.1:0', '--ops-address', '127.0.0.1:0', '--log-level', 'info'],
    cwd: options.root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production', ...options.env },
    logFile: options.logFile,
    ready: async () => {
      ports ??= listeningPorts(options.logFile);
      if (!ports) return false;
      const res = await fetch(`http://127.0.0.1:${ports.opsPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    },
    startTimeoutMs: 30_000,
  });
  const { port, opsPort } = ports!;
  return {
    pid: component.pid,
    port,
    opsPort,
    cpuMs: () => readCpuMs(component.pid),
    memory: () => readProcessMemory(component.pid),
    rssSplit: () => readRssSplit(component.pid),
    signal: (name) => process.kill(component.pid, name),
    stop: () => component.stop(),
  };
}

/** A process of the bench's floor (bench/sts-floor.mjs, or bare node idling): its pid, port and /proc readings. */
export type FloorProcess = Omit<StsProcess, 'opsPort'>;

/**
 * The floor of the sts's memory and CPU on the same Node binary, flags and environment: `script`
 * bench/sts-floor.mjs (an HTTP server doing only the per-token work; port 0 when omitted: bare
 * `node -e 'setInterval(…)'`, Node's own idle RSS).
 */
export async function startFloorProcess(options: { root: string; nodeBinary: string; nodeFlags: readonly string[]; env?: Readonly<Record<string, string>>; logFile: string; script?: string }): Promise<FloorProcess> {
  const portFile = `${options.logFile}.port`;
  const readPort = (): number | undefined => {
    try {
      const port = Number(readFileSync(portFile, 'utf8'));
      return port > 0 ? port : undefined;
    } catch {
      return undefined;
    }
  };
  const bare = options.script === undefined;
  const component = await startComponent({
    name: bare ? 'bare node' : 'sts floor',
    command: options.nodeBinary,
    args: [...options.nodeFlags, ...(bare ? ['-e', 'setInterval(() => {}, 1000)'] : [options.script!, portFile])],
    cwd: options.root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production', ...options.env },
    logFile: options.logFile,
    // Bare node has nothing to probe: the bench waits for its start-up to settle instead.
    ready: async () => (bare ? new Promise((resolve) => setTimeout(() => resolve(true), 1000)) : readPort() !== undefined),
    startTimeoutMs: 30_000,
  });
  return {
    pid: component.pid,
    port: readPort() ?? 0,
    cpuMs: () => readCpuMs(component.pid),
    memory: () => readProcessMemory(component.pid),
    rssSplit: () => readRssSplit(component.pid),
    signal: (name) => process.kill(component.pid, name),
    stop: () => component.stop(),
  };
}
