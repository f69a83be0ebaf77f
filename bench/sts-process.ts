// `kube-regcred sts` as the image runs it, for the token-service bench: the compiled CLI (what
// `npm run build` writes to dist/), the Node flags of the shipped sts Deployment, NODE_ENV=production as
// in the Dockerfile, and its CPU time and memory read from /proc.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startComponent, type Component } from '../test/support/process.ts';
import { readProcessMemory, shippedNodeFlags, type ProcessMemory } from './controller-process.ts';

export const STS_MANIFEST = join('manifests', 'components', 'sts', 'sts-deployment.yaml');

/** The sts container's Node flags in manifests/components/sts/sts-deployment.yaml. */
export function shippedStsNodeFlags(root: string): string[] {
  return shippedNodeFlags(root, { manifest: STS_MANIFEST, container: 'sts' });
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
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'production' },
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
