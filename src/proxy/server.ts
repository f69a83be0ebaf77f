// The proxy's HTTP server: route → authenticate → authorize → forward. The only place that decides
// what reaches the upstream and that logs and counts each request's outcome.
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { Clock } from '../clock.ts';
import { toRegcredError } from '../errors.ts';
import { closeGracefully, listen } from '../http/listen.ts';
import type { Logger } from '../log.ts';
import { parseBearer } from '../sts/credentials.ts';
import { allows, scopeFor } from './access.ts';
import { catalogQuery, existingRepositories, paginate } from './catalog.ts';
import type { MetricAction, MetricResult, ProxyMetrics } from './metrics.ts';
import { challenge, sendJson, sendRegistryError, type ChallengeSettings } from './respond.ts';
import { routeRequest, type ProxyRoute } from './routes.ts';
import type { RegistryTokenVerifier, VerifiedRegistryToken } from './token-verifier.ts';
import type { Upstream } from './upstream.ts';

export interface ProxyServerOptions {
  challenge: ChallengeSettings;
  verify: RegistryTokenVerifier;
  upstream: Upstream;
  /** The proxy's address as clients reach it (upload Locations point here); default `http://<Host>`. */
  externalUrl?: URL;
  clock: Clock;
  logger: Logger;
  metrics: ProxyMetrics;
}

export interface ProxyServer {
  listen(port: number, host?: string): Promise<number>;
  /** Stops accepting, lets transfers in flight finish (up to `graceMs`), then closes what is left. */
  close(graceMs?: number): Promise<void>;
  readonly server: Server;
}

const SAFE_HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

function metricAction(route: ProxyRoute | undefined): MetricAction {
  if (!route) return 'none';
  return route.kind === 'repository' ? route.action : route.kind;
}

function scopeOf(route: ProxyRoute): string | undefined {
  if (route.kind === 'catalog') return 'registry:catalog:*';
  return route.kind === 'repository' ? scopeFor(route.repository, route.action) : undefined;
}

/** Query string without the cross-repository mount, for a token that may not pull its source. */
function withoutMount(query: URLSearchParams): string {
  const kept = new URLSearchParams(query);
  kept.delete('mount');
  kept.delete('from');
  const text = kept.toString();
  return text === '' ? '' : `?${text}`;
}

export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  const { logger, metrics, upstream } = options;

  function publicOrigin(req: IncomingMessage): string | undefined {
    if (options.externalUrl) return options.externalUrl.origin;
    const host = req.headers.host ?? '';
    return SAFE_HOST.test(host) ? `http://${host}` : undefined;
  }

  /** Upstream URLs in Location and Link become the proxy's own; other origins (storage redirects) stay. */
  function rewrite(value: string, origin: string | undefined): string {
    if (origin === undefined) return value;
    return value.startsWith(upstream.origin + '/') ? origin + value.slice(upstream.origin.length) : value;
  }

  async function authenticate(req: IncomingMessage, res: ServerResponse, route: ProxyRoute): Promise<VerifiedRegistryToken | MetricResult> {
    const scope = scopeOf(route);
    let token: string;
    try {
      token = parseBearer(req.headers.authorization);
    } catch {
      // No credential, or Basic: the client is to fetch a token at the realm first.
      sendRegistryError(res, 401, 'UNAUTHORIZED', 'authentication required', { headers: { 'www-authenticate': challenge(options.challenge, scope) } });
      return 'unauthenticated';
    }
    try {
      return await options.verify(token, options.clock.now());
    } catch (err) {
      const error = toRegcredError(err);
      if (error.code === 'JwksUnavailable' || error.code === 'Internal') {
        logger.warn({ code: error.code, errorName: (error.cause as Error | undefined)?.name }, 'token keys unavailable');
        sendRegistryError(res, 503, 'UNAVAILABLE', 'token service keys unavailable', { headers: { 'retry-after': '5' } });
        return 'keys_unavailable';
      }
      logger.info({ code: error.code, reason: error.message }, 'token refused');
      sendRegistryError(res, 401, 'UNAUTHORIZED', error.message, { headers: { 'www-authenticate': challenge(options.challenge, scope, 'invalid_token') } });
      return 'invalid_token';
    }
  }

  async function serveCatalog(res: ServerResponse, token: VerifiedRegistryToken, query: URLSearchParams): Promise<void> {
    const names = await existingRepositories(token.access, async (name) => (await upstream.status('GET', `/v2/${name}/tags/list?n=1`)) === 200);
    const { n, last } = catalogQuery(query);
    const page = paginate(names, n, last);
    const headers: Record<string, string> = {};
    if (page.next !== undefined) headers.link = `</v2/_catalog?last=${encodeURIComponent(page.next)}&n=${n}>; rel="next"`;
    sendJson(res, 200, { repositories: page.repositories }, headers);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<{ action: MetricAction; result: MetricResult }> {
    const raw = req.url ?? '/';
    const mark = raw.indexOf('?');
    const path = mark === -1 ? raw : raw.slice(0, mark);
    const queryText = mark === -1 ? '' : raw.slice(mark);
    const query = new URLSearchParams(queryText);
    const routed = routeRequest(req.method ?? 'GET', path, query);
    if (!routed.ok) {
      req.resume();
      sendRegistryError(res, routed.status, routed.status === 404 ? 'NAME_UNKNOWN' : 'UNSUPPORTED', routed.reason);
      return { action: 'none', result: routed.status === 404 ? 'not_found' : 'method_not_allowed' };
    }
    const { route } = routed;
    const action = metricAction(route);
    const token = await authenticate(req, res, route);
    if (typeof token === 'string') {
      req.resume();
      return { action, result: token };
    }
    let forwardQuery = queryText;
    if (route.kind === 'catalog') {
      await serveCatalog(res, token, query);
      return { action, result: 'forwarded' };
    }
    if (route.kind === 'repository') {
      if (!allows(token.access, route.repository, route.action)) {
        req.resume();
        logger.info({ subject: token.subject, repository: route.repository, action: route.action }, 'access denied');
        sendRegistryError(res, 403, 'DENIED', 'requested access to the resource is denied', {
          detail: [{ Type: 'repository', Name: route.repository, Action: route.action }],
        });
        return { action, result: 'denied' };
      }
      if (route.mountFrom !== undefined && !allows(token.access, route.mountFrom, 'pull')) forwardQuery = withoutMount(query);
    }
    const origin = publicOrigin(req);
    const started = process.hrtime.bigint();
    try {
      const outcome = await upstream.forward(req, res, path + forwardQuery, {
        onHeaders(status, headers: OutgoingHttpHeaders) {
          metrics.upstreamDuration.observe({ action }, Number(process.hrtime.bigint() - started) / 1e9);
          for (const name of ['location', 'link'] as const) {
            const value = headers[name];
            if (typeof value === 'string') headers[name] = rewrite(value, origin);
          }
          // The upstream should have no auth of its own; a challenge from it means the proxy's
          // credential for it is wrong, which no client can fix.
          if (status === 401) {
            logger.error({ status }, 'upstream refused the proxy credential');
            return undefined;
          }
          return status;
        },
        onBytes: (direction, bytes) => metrics.bytes.inc({ direction }, bytes),
      });
      if (outcome === 'withheld') {
        sendRegistryError(res, 502, 'UNAVAILABLE', 'the upstream registry refused the proxy\'s own credential');
        return { action, result: 'upstream_error' };
      }
    } catch (err) {
      if (req.destroyed && !req.complete) {
        logger.debug({ action }, 'client went away');
        return { action, result: 'forwarded' };
      }
      logger.warn({ action, errorName: (err as Error).name, errorCode: (err as NodeJS.ErrnoException).code }, 'upstream failed');
      sendRegistryError(res, 502, 'UNAVAILABLE', 'upstream registry unavailable');
      return { action, result: 'upstream_error' };
    }
    return { action, result: 'forwarded' };
  }

  const server = createServer({ maxHeaderSize: 32_768 }, (req, res) => {
    serve(req, res).then(
      (outcome) => metrics.requests.inc(outcome),
      (err: unknown) => {
        logger.error({ code: 'Internal', errorName: (err as Error).name }, 'request handler crashed');
        metrics.requests.inc({ action: 'none', result: 'upstream_error' });
        sendRegistryError(res, 500, 'UNKNOWN', 'internal error');
      },
    );
  });
  // Blobs are gigabytes: no limit on a whole request, only on headers and on silence.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  server.timeout = 120_000;
  server.keepAliveTimeout = 30_000;

  return {
    server,
    listen: (port, host = '0.0.0.0') => listen(server, port, host),
    async close(graceMs = 30_000) {
      await closeGracefully(server, graceMs);
      upstream.close();
    },
  };
}
