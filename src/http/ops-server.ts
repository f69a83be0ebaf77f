// The operations endpoint shared by every subcommand: /metrics, /healthz, /readyz.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import { listen } from './listen.ts';

export interface OpsServerOptions {
  /** Metrics of this process; served as the Prometheus text format. */
  registry: Registry;
  /** Liveness: false only when the process is wedged and should be restarted. Default: always live. */
  isLive?: () => boolean;
  /** Readiness, with a short reason when not ready (shown in the /readyz body). */
  isReady: () => { ready: boolean; reason?: string };
  logger: Logger;
}

export interface OpsServer {
  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
  readonly server: Server;
}

export function createOpsServer(options: OpsServerOptions): OpsServer {
  const isLive = options.isLive ?? (() => true);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      const live = isLive();
      res.writeHead(live ? 200 : 503, { 'content-type': 'text/plain' }).end(live ? 'ok\n' : 'not live\n');
      return;
    }
    if (path === '/readyz') {
      const { ready, reason } = options.isReady();
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ok\n' : `not ready: ${reason ?? 'starting'}\n`);
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(body),
        (err: unknown) => {
          options.logger.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  // Probes and scrapes are short; a stuck client must not pin a socket.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;

  return {
    server,
    listen: (port, host = '0.0.0.0') => listen(server, port, host),
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
