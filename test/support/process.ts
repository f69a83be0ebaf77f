// Supervised child processes for the test bed: output to a log file, readiness by probe, a failure that
// names the component and shows its log tail, and no strays when the test process dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Set<ChildProcess>();

// A process that exits normally takes its components with it. Any other death (a signal, SIGKILL) is
// covered by PR_SET_PDEATHSIG, set through setpriv below; signal handling itself is left to the program
// (the demo stops gracefully on Ctrl-C).
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ComponentOptions {
  /** Short name used in messages: "etcd", "kube-apiserver", "registry". */
  name: string;
  command: string;
  args: readonly string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Resolves truthy once the component serves; called until `startTimeoutMs`. */
  ready: () => Promise<boolean>;
  startTimeoutMs?: number;
}

export interface Component {
  readonly name: string;
  readonly logFile: string;
  readonly pid: number;
  stop(): Promise<void>;
  /** Lets the test process exit while this runs; it is then killed at exit. */
  unref(): void;
}

export function logTail(file: string, lines = 40): string {
  if (!existsSync(file)) return '(no log file)';
  const all = readFileSync(file, 'utf8').trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

export class ComponentStartError extends Error {
  constructor(name: string, reason: string, logFile: string) {
    super(`${name} did not start: ${reason}\n--- last lines of ${logFile} ---\n${logTail(logFile)}\n---`);
    this.name = 'ComponentStartError';
  }
}

const hasSetpriv = existsSync('/usr/bin/setpriv');

export async function startComponent(options: ComponentOptions): Promise<Component> {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  await once(log, 'open');
  // setpriv --pdeathsig: the kernel kills the component when the test process dies, even by SIGKILL.
  const [command, args] = hasSetpriv
    ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', options.command, ...options.args]]
    : [options.command, [...options.args]];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', log, log],
  });
  running.add(child);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = once(child, 'exit').then(([code, signal]) => {
    exited = { code: code as number | null, signal: signal as NodeJS.Signals | null };
    running.delete(child);
  });
  child.once('error', (err) => {
    exited = { code: -1, signal: null };
    log.write(`spawn failed: ${err.message}\n`);
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const killed = await Promise.race([exit.then(() => true), sleep(5000).then(() => false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await exit;
    }
    log.end();
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      log.end();
      throw new ComponentStartError(options.name, `exited with ${exited.signal ?? `code ${exited.code}`}`, options.logFile);
    }
    if (await options.ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new ComponentStartError(options.name, `not ready after ${options.startTimeoutMs ?? 60_000} ms`, options.logFile);
    }
    await sleep(100);
  }
  return { name: options.name, logFile: options.logFile, pid: child.pid!, stop, unref: () => child.unref() };
}
