// The pino root logger. Secret-named fields are censored on every line and child binding
// (log-redaction.ts says why not by pino's own `redact`).
import { pino, type Logger, type DestinationStream } from 'pino';
import { LOG_CENSOR, redactLogFields, SECRET_LOG_KEYS } from './log-redaction.ts';

export type { Logger };

const CENSORING_SERIALIZERS = Object.fromEntries([...SECRET_LOG_KEYS].map((key) => [key, () => LOG_CENSOR]));

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
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), bindings: redactLogFields, log: redactLogFields },
      // pino resets the bindings formatter for children: their top-level fields are censored here.
      serializers: CENSORING_SERIALIZERS,
    },
    options.destination ?? pino.destination({ dest: 1, sync: false, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
}
