// What every subcommand's entry does the same way: --help, bad flags, and waiting for the signal to stop.
import { OptionsError } from '../config.ts';
import { toRegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * Settings from argv + env, or the exit code to return: 0 after printing --help, 2 after a flag error
 * (printed as `kube-regcred <command>: <message>`). Anything but an OptionsError is a bug and propagates.
 */
export function parseCommandLine<T>(command: string, argv: readonly string[], help: () => string, parse: () => T): { settings: T } | { exitCode: number } {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help());
    return { exitCode: 0 };
  }
  try {
    return { settings: parse() };
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`kube-regcred ${command}: ${err.message}\n`);
      return { exitCode: 2 };
    }
    throw err;
  }
}

/** Resolves on the first SIGTERM or SIGINT, which graceful shutdown then follows. */
export function untilStopSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'signal received');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** What a server subcommand's start function returns: something to stop after the signal. */
export interface StoppableProcess {
  readonly logger: Logger;
  stop(): Promise<void>;
}

/**
 * A server subcommand from start to exit code: 1 when it cannot start (the reason on stderr),
 * otherwise serve until SIGTERM/SIGINT, stop gracefully, and 0.
 */
export async function serveUntilStopped(command: string, start: () => Promise<StoppableProcess>): Promise<number> {
  let running: StoppableProcess;
  try {
    running = await start();
  } catch (err) {
    // Our messages (config problems with field paths) or Node's (port in use); never request data.
    const error = toRegcredError(err);
    const message = error.code === 'Internal' ? (err as Error).message : error.message;
    process.stderr.write(`kube-regcred ${command}: cannot start: ${message}\n`);
    return 1;
  }
  await untilStopSignal(running.logger);
  await running.stop();
  return 0;
}
