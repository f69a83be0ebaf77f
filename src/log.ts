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

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // pino's default writes every line with a blocking write(2): at 5,000 Secret writes that was the
    // controller's largest CPU item (bench/). Asynchronous writes batch lines while one is in flight and
    // still go out at once when idle; pino flushes what is pending when the process exits.
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
