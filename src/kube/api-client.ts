// A small JSON-over-HTTPS client for the Kubernetes API, in place of @kubernetes/client-node at run
// time: importing client-node costs about 85 MiB of RSS, and its generated serializers copy every
// object once more, which the controller's 150 MiB budget cannot carry. The controller needs a dozen
// calls and one watch; they are spelled out where they are used, against the API's documented paths.
//
// Requests share one keep-alive pool; watches get their own, so a long-lived watch never holds a socket
// that a write is queued behind. Answers other than 2xx become KubeApiError, which keeps the status, the
// Status `reason` and Retry-After, and for 400/422 the causes without their quoted values (statusCauses),
// never any other byte of the body (it can echo what was sent).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { statusCauses } from './status-causes.ts';
import type { KubeConnection } from './kube-connection.ts';

export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  query?: Query;
  /** Serialized as JSON. */
  body?: unknown;
  /** Default `application/json`; patches name their strategy. */
  contentType?: string;
  /** This request's time limit instead of the client's (Lease calls must end within the renew deadline). */
  timeoutMs?: number;
  /** Abort with ResponseTooLargeError once the answer passes this many characters (list pages). */
  maxResponseChars?: number;
  /** Told the answer's size in characters once it is complete (to size the next list page). */
  onResponseChars?: (chars: number) => void;
  /** The Accept header instead of `application/json` (secret-writer.ts asks for metadata only). */
  accept?: string;
}

/** An answer larger than the caller's maxResponseChars: cut off, nothing of it kept. */
export class ResponseTooLargeError extends Error { override readonly name = 'ResponseTooLargeError'; }

/** One line of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

export interface KubeApi {
  /** The parsed JSON answer of a 2xx; throws KubeApiError otherwise, or a network error. */
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /**
   * Streams a watch, calling `onEvent` per line, until the server ends it (resolves), `signal` aborts it
   * (resolves), or it fails (rejects; also when `onEvent` throws, which ends the stream).
   */
  watch(path: string, query: Query, onEvent: (event: WatchEvent) => void, signal: AbortSignal): Promise<void>;
  /** Closes idle pooled connections; in-flight requests finish. */
  close(): void;
  /** The API server's URL, for logs (no credentials: a kubeconfig server field carries none). */
  readonly server: string;
}

export interface KubeApiOptions {
  connection: KubeConnection;
  /** Concurrent request connections at most; more requests wait for a free one. Default 32. */
  maxSockets?: number;
  /** Per request, from sending to the last byte of the answer. Default 30 s (client-go's default is none). */
  timeoutMs?: number;
  /** A watch that sends nothing (not even a bookmark) for this long is presumed dead. Default 15 min. */
  watchIdleMs?: number;
  userAgent?: string;
}

/** A non-2xx answer. The message holds only the method, the path, the status and the Status reason. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  readonly retryAfterMs: number | undefined;
  /** For 400/422: why, from the Status causes (statusCauses), free of values. */
  readonly detail: string | undefined;
  constructor(status: number, reason: string | undefined, retryAfterMs?: number, detail?: string) {
    super(`HTTP ${status}${reason ? ` ${reason}` : ''}${detail ? `: ${detail}` : ''}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
    this.detail = detail;
  }
}


/**
 * Our own credentials could not be produced (an exec plugin failed, a token file became unreadable).
 * kube-connection.ts writes those messages without secret material, so this one can be shown.
 */
export class KubeCredentialsError extends Error {
  constructor(cause: unknown) {
    super(`credentials unavailable: ${cause instanceof Error ? cause.message : 'unknown error'}`);
    this.name = 'KubeCredentialsError';
  }
}

/** Status reasons are a closed set of CamelCase words; anything else is dropped rather than echoed. */
const STATUS_REASON = /^[A-Za-z]{1,40}$/;

export function statusReason(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'reason' in body) {
    const reason = (body as { reason?: unknown }).reason;
    if (typeof reason === 'string' && STATUS_REASON.test(reason)) return reason;
  }
  return undefined;
}

function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw) * 1000;
}

/** The error for a non-2xx answer: `body` is read for its Status reason only. */
export function kubeApiError(status: number, retryAfter: string | string[] | undefined, body: string): KubeApiError {
  let reason: string | undefined;
  let detail: string | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    reason = statusReason(parsed);
    if (status === 400 || status === 422) detail = statusCauses(parsed);
  } catch {
    reason = undefined;
  }
  return new KubeApiError(status, reason, retryAfterMs(retryAfter), detail);
}

function errorFromResponse(res: IncomingMessage, body: string): KubeApiError {
  return kubeApiError(res.statusCode ?? 0, res.headers['retry-after'], body);
}

function withQuery(path: string, query: Query | undefined): string {
  if (query === undefined) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
  const search = params.toString();
  return search === '' ? path : `${path}${path.includes('?') ? '&' : '?'}${search}`;
}

class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

export function createKubeApi(options: KubeApiOptions): KubeApi {
  const { connection } = options;
  const server = connection.server;
  const secure = server.protocol === 'https:';
  const prefix = server.pathname.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 30_000;
  const watchIdleMs = options.watchIdleMs ?? 15 * 60_000;
  const userAgent = options.userAgent ?? 'kube-regcred';
  const agentOptions = {
    keepAlive: true,
    ca: connection.tls.ca,
    cert: connection.tls.cert,
    key: connection.tls.key,
    rejectUnauthorized: connection.tls.rejectUnauthorized,
    servername: connection.tls.servername,
  };
  const makeAgent = (maxSockets: number) => (secure ? new HttpsAgent({ ...agentOptions, maxSockets }) : new HttpAgent({ keepAlive: true, maxSockets }));
  const requests = makeAgent(options.maxSockets ?? 32);
  const watches = makeAgent(Infinity);
  const send = secure ? httpsRequest : httpRequest;

  const open = async (method: string, path: string, agent: HttpAgent, body: string | undefined, contentType: string, accept = 'application/json'): Promise<ClientRequest> => {
    const headers: Record<string, string> = { accept, 'user-agent': userAgent };
    let authorization: string | undefined;
    try {
      authorization = await connection.authorization();
    } catch (err) {
      throw new KubeCredentialsError(err);
    }
    if (authorization !== undefined) headers['authorization'] = authorization;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    return send({
      protocol: server.protocol,
      hostname: server.hostname.replace(/^\[|\]$/g, ''),
      port: server.port,
      path: prefix + path,
      method,
      agent,
      headers,
    });
  };

  const noteStatus = (status: number | undefined) => {
    // A rotated projected token, or an exec plugin's expired one: fetch afresh for the next call.
    if (status === 401) connection.invalidate();
  };

  return {
    async request<T>(method: string, path: string, requestOptions: RequestOptions = {}): Promise<T> {
      const body = requestOptions.body === undefined ? undefined : JSON.stringify(requestOptions.body);
      const req = await open(method, withQuery(path, requestOptions.query), requests, body, requestOptions.contentType ?? 'application/json', requestOptions.accept);
      const limitMs = requestOptions.timeoutMs ?? timeoutMs;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => req.destroy(new TimeoutError(`no complete answer within ${limitMs} ms`)), limitMs);
        req.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        req.on('response', (res) => {
          // Decoded as it arrives: no second copy of a large list page in a concatenated Buffer.
          res.setEncoding('utf8');
          let text = '';
          const maxChars = requestOptions.maxResponseChars;
          res.on('data', (chunk: string) => {
            text += chunk;
            if (maxChars !== undefined && text.length > maxChars) {
              clearTimeout(timer);
              text = '';
              req.destroy();
              reject(new ResponseTooLargeError(`answer larger than ${maxChars} characters`));
            }
          });
          res.on('error', (err) => {
            clearTimeout(timer);
            reject(err);
          });
          res.on('end', () => {
            clearTimeout(timer);
            const status = res.statusCode ?? 0;
            noteStatus(status);
            if (status < 200 || status > 299) return reject(errorFromResponse(res, text));
            requestOptions.onResponseChars?.(text.length);
            try {
              resolve((text === '' ? undefined : JSON.parse(text)) as T);
            } catch {
              reject(new KubeApiError(status, 'InvalidJSON'));
            }
          });
        });
        req.end(body);
      });
    },

    async watch(path, query, onEvent, signal) {
      if (signal.aborted) return;
      const req = await open('GET', withQuery(path, { ...query, watch: true }), watches, undefined, 'application/json');
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const finish = (err?: unknown) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          req.destroy();
          if (err === undefined || signal.aborted) resolve();
          else reject(err);
        };
        const onAbort = () => finish();
        signal.addEventListener('abort', onAbort, { once: true });
        req.setTimeout(watchIdleMs, () => finish(new TimeoutError(`watch sent nothing for ${watchIdleMs} ms`)));
        req.on('error', (err) => finish(err));
        req.on('response', (res) => {
          const status = res.statusCode ?? 0;
          noteStatus(status);
          if (status !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => finish(errorFromResponse(res, Buffer.concat(chunks).toString('utf8'))));
            res.on('error', (err) => finish(err));
            return;
          }
          res.setEncoding('utf8');
          // A line's pieces until its newline arrives: only the new chunk is searched, and a 1 MiB event
          // is joined once (searching the growing whole flattened and copied it once per chunk).
          let pending: string[] = [];
          res.on('data', (chunk: string) => {
            let start = 0;
            let newline: number;
            while (!settled && (newline = chunk.indexOf('\n', start)) !== -1) {
              pending.push(chunk.slice(start, newline));
              const line = pending.join('');
              pending = [];
              start = newline + 1;
              if (line.trim() === '') continue;
              let event: WatchEvent;
              try {
                event = JSON.parse(line) as WatchEvent;
              } catch {
                return finish(new KubeApiError(status, 'InvalidJSON'));
              }
              try {
                onEvent(event);
              } catch (err) {
                return finish(err);
              }
            }
            if (start < chunk.length) pending.push(chunk.slice(start));
          });
          res.on('end', () => finish());
          res.on('error', (err) => finish(err));
          res.on('close', () => finish(res.complete ? undefined : new Error('watch connection closed')));
        });
        req.end();
      });
    },

    server: `${server.protocol}//${server.host}${prefix}`,
    close() {
      requests.destroy();
      watches.destroy();
    },
  };
}
