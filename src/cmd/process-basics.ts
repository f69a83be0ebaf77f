// What every long-running subcommand (controller, sts, proxy) starts with: its root logger and a metric
// registry that already carries the process_* and nodejs_* metrics (RSS, heap, event-loop lag) that
// capacity planning and the bench read.
import type { DestinationStream } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createLogger, type Logger } from '../log.ts';

export function createProcessBasics(component: string, logLevel: string, logDestination?: DestinationStream): { logger: Logger; registry: Registry } {
  const logger = createLogger({ level: logLevel, base: { component }, ...(logDestination ? { destination: logDestination } : {}) });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return { logger, registry };
}
