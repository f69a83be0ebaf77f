// The upstream registry: one keep-alive agent, the credential only the proxy knows, and streaming
// in both directions with backpressure (node:stream pipeline), so memory stays bounded by the
// streams' buffers whatever the blob size.
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface UpstreamOptions {
  /** Origin of the upstream registry, e.g. `http://registry.internal:5000`. */
  url: URL;
  /** A static `Authorization` value for the upstream (Basic from a file); never the client's. */
  authorization?: string;
  /** PEM bundle to trust for an https upstream. */
  caPem?: string;
  /** Idle time on an upstream socket before the exchange is abandoned. */
  idleTimeoutMs?: number;
  maxSockets?: number;
}

export interface Upstream {
  readonly origin: string;
  /**
   * Sends `req`'s method, headers (filtered) and body to `pathAndQuery` upstream; streams the answer
   * to `res` after `onHeaders` has adjusted its headers. Resolves when both bodies are done
   * (`withheld` when onHeaders chose not to pass the answer on: `res` is then untouched); rejects
   * when either side failed (the response is then destroyed if it had started).
   */
  forward(req: IncomingMessage, res: ServerResponse, pathAndQuery: string, hooks: ForwardHooks): Promise<'streamed' | 'withheld'>;
  /** A bodiless request of the proxy's own (catalog existence checks): status only. */
  status(method: 'GET' | 'HEAD', pathAndQuery: string): Promise<number>;
  close(): void;
}

export interface ForwardHooks {
  /** Rewrites response headers (Location, Link); returns the status to send, or undefined to withhold the answer. */
  onHeaders(status: number, headers: OutgoingHttpHeaders): number | undefined;
  onBytes(direction: 'upload' | 'download', bytes: number): void;
}

// RFC 9110 §7.6.1 connection-specific fields, plus what must never cross the proxy in either direction.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'host']);

/** Headers minus hop-by-hop ones and those the Connection header names. */
export function endToEndHeaders(headers: IncomingHttpHeaders, drop: readonly string[] = []): OutgoingHttpHeaders {
  const named = String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name) || drop.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

function counter(onChunk: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      onChunk(chunk.length);
      callback(null, chunk);
    },
  });
}

export function createUpstream(options: UpstreamOptions): Upstream {
  const https = options.url.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64, maxFreeSockets: 16, scheduling: 'lifo' as const };
  const agent = https ? new HttpsAgent({ ...agentOptions, ...(options.caPem ? { ca: options.caPem } : {}) }) : new HttpAgent(agentOptions);
  const send = https ? httpsRequest : httpRequest;
  const idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  const base = { protocol: options.url.protocol, hostname: options.url.hostname, port: options.url.port, agent };

  function headersFor(req: IncomingMessage | undefined): OutgoingHttpHeaders {
    // The client's Authorization is its registry token, meant for the proxy: never passed on.
    const headers = req ? endToEndHeaders(req.headers, ['authorization', 'cookie']) : {};
    headers.host = options.url.host;
    if (options.authorization) headers.authorization = options.authorization;
    return headers;
  }

  return {
    origin: options.url.origin,
    forward(req, res, pathAndQuery, hooks) {
      return new Promise<'streamed' | 'withheld'>((resolve, reject) => {
        const upstreamReq = send({ ...base, method: req.method, path: pathAndQuery, headers: headersFor(req), timeout: idleTimeoutMs });
        upstreamReq.on('timeout', () => upstreamReq.destroy(new Error('upstream idle timeout')));
        let answered = false;
        upstreamReq.on('response', (upstreamRes) => {
          answered = true;
          const headers = endToEndHeaders(upstreamRes.headers);
          const status = hooks.onHeaders(upstreamRes.statusCode ?? 502, headers);
          if (status === undefined) {
            upstreamRes.resume();
            resolve('withheld');
            return;
          }
          res.writeHead(status, headers);
          pipeline(upstreamRes, counter((n) => hooks.onBytes('download', n)), res).then(() => resolve('streamed'), reject);
        });
        // The request body streams as the client sends it; pipeline ends the upstream request after it.
        pipeline(req, counter((n) => hooks.onBytes('upload', n)), upstreamReq).catch((err: unknown) => {
          if (!answered) reject(err);
          else if (!res.writableFinished) res.destroy(err as Error);
        });
      });
    },
    status(method, pathAndQuery) {
      return new Promise((resolve, reject) => {
        const upstreamReq = send({ ...base, method, path: pathAndQuery, headers: headersFor(undefined), timeout: idleTimeoutMs }, (upstreamRes) => {
          upstreamRes.resume();
          upstreamRes.on('end', () => resolve(upstreamRes.statusCode ?? 502));
          upstreamRes.on('error', reject);
        });
        upstreamReq.on('timeout', () => upstreamReq.destroy(new Error('upstream idle timeout')));
        upstreamReq.on('error', reject);
        upstreamReq.end();
      });
    },
    close: () => agent.destroy(),
  };
}
