// The token service's HTTP server: routes, per-request timing and refusal accounting, and the only
// place that logs a request's outcome. Each request reads the snapshot once, so a reload mid-request
// changes nothing for it.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Clock } from '../clock.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { handleExchange, type HandlerInput, type HandlerResult } from './exchange-handler.ts';
import { realmFor, sendError, sendJson, statusOf } from './answer.ts';
import { countRefusal, type Endpoint, type StsMetrics } from './metrics.ts';
import type { StsConfigSnapshot } from './config-snapshot.ts';
import { handleToken } from './token-handler.ts';
import { closeGracefully, listen } from '../http/listen.ts';

export interface StsServerOptions {
  /** The active snapshot; read once per request. */
  getSnapshot: () => StsConfigSnapshot;
  clock: Clock;
  logger: Logger;
  metrics: StsMetrics;
  /** Serve HTTPS with this certificate and key instead of plain HTTP. */
  tls?: { cert: string; key: string };
}

export interface StsServer {
  listen(port: number, host?: string): Promise<number>;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
  readonly server: Server;
  /** HTTPS only: serve this pair to new connections (a renewed certificate). */
  setTls(pair: { cert: string; key: string }): void;
}

interface Route {
  endpoint: Endpoint;
  methods: readonly string[];
  handle: (input: HandlerInput) => Promise<HandlerResult>;
}

const ROUTES: Record<string, Route> = {
  '/sts/exchange': { endpoint: 'exchange', methods: ['POST'], handle: handleExchange },
  '/token': { endpoint: 'token', methods: ['GET', 'POST'], handle: handleToken },
};

export function createStsServer(options: StsServerOptions): StsServer {
  const { logger, metrics } = options;

  async function serve(req: IncomingMessage, res: ServerResponse, started: bigint): Promise<void> {
    let endpoint: Endpoint = 'other';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://sts.invalid');
    } catch {
      res.writeHead(400).end();
      return;
    }
    const snapshot = options.getSnapshot();
    const challenge = { realm: realmFor(snapshot.config.realm, req), service: snapshot.config.service };
    try {
      if (url.pathname === '/.well-known/jwks.json') {
        endpoint = 'jwks';
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD' }).end();
          return;
        }
        sendJson(res, 200, snapshot.jwks, { 'cache-control': 'public, max-age=300' });
        return;
      }
      const route = ROUTES[url.pathname];
      if (!route) {
        sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
        return;
      }
      endpoint = route.endpoint;
      if (!route.methods.includes(req.method ?? '')) {
        res.writeHead(405, { allow: route.methods.join(', ') }).end();
        return;
      }
      const result = await route.handle({ req, url, snapshot, now: options.clock.now(), metrics });
      sendJson(res, 200, result.body);
      logger.debug({ endpoint, identity: result.identity, status: 200 }, 'token issued');
    } catch (err) {
      const error = toRegcredError(err);
      if (error.code === 'Internal') {
        // Only the name: messages of unexpected errors can quote their input.
        logger.error({ endpoint, code: error.code, errorName: (error.cause as Error | undefined)?.name }, 'request failed');
      } else {
        logger.info({ endpoint, code: error.code, status: statusOf(error), reason: error.message }, 'request refused');
      }
      countRefusal(metrics, error.code);
      if (!res.headersSent) sendError(res, error, challenge);
      else res.destroy();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.requestDuration.observe({ endpoint }, seconds);
    }
  }

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    serve(req, res, started).catch((err: unknown) => {
      // serve() handles its own errors; reaching here is a bug, not a client's doing.
      logger.error({ code: 'Internal', errorName: (err as Error).name }, 'request handler crashed');
      if (!res.headersSent) sendError(res, new RegcredError('Internal', 'internal error'), undefined);
    });
  };
  // node:https (with tls and its OpenSSL set-up, ~2.4 MiB of RSS) is loaded only for a TLS listener.
  const server: Server = options.tls
    ? (process.getBuiltinModule('node:https').createServer({ maxHeaderSize: 16_384, ...options.tls }, handler) as HttpsServer as unknown as Server)
    : createServer({ maxHeaderSize: 16_384 }, handler);
  // Bounded time per request: a slow client cannot hold a socket or a body buffer for long.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;

  return {
    server,
    setTls(pair) {
      (server as unknown as HttpsServer).setSecureContext(pair);
    },
    listen: (port, host = '0.0.0.0') => listen(server, port, host),
    close: (graceMs = 10_000) => closeGracefully(server, graceMs),
  };
}
