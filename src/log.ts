// The pino root logger. Secret material is redacted by path as a second line of defence: the first is
// never putting it in a log field at all.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Field paths that may hold secret material anywhere in a log object. */
export const REDACT_PATHS = [
  'token',
  'password',
  'auth',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.token',
  '*.password',
  '*.auth',
  '*.authorization',
];

export interface LoggerOptions {
  /** pino level name; default `info`. */
  level?: string;
  /** Where lines go; default stdout (asynchronous, see below). Tests pass a stream to inspect what was logged. */
  destination?: DestinationStream;
  /** Fields on every line, e.g. `{ component: 'controller' }`. */
  base?: Record<string, unknown>;
}

/**
 * Lines are written to stdout in batches of this many bytes, or every LOG_FLUSH_MS, whichever comes
 * first, and whatever is pending when the process exits (pino's exit hook). One write per line cost
 * 40-80 µs of CPU each, a blocking one or one handed to libuv's thread pool alike (the controller logs
 * every Secret it writes: at 50,000 that was 2-4 s of a 35 s cold start); batched, about 20 µs. Like
 * klog's 5 s flush, only a SIGKILL or an OOM kill can lose lines: at most LOG_FLUSH_MS of them.
 */
export const LOG_BATCH_BYTES = 4096;
export const LOG_FLUSH_MS = 250;

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
}
