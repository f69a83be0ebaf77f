// The transport under every Kubernetes API call: credentials from client-node's KubeConfig
// (kube-config.ts), keep-alive pools keyed by TLS material (agent-pool.ts), time and size limits, and
// the error of a non-2xx answer (api-errors.ts). The typed client-node APIs run over it (http-library.ts);
// the list/watch hot path calls requestList() and watch() directly (list-watch.ts says why).
//
// Requests share one keep-alive pool; watches get their own, so a long-lived watch never holds a socket
// that a write is queued behind.
import { request as httpRequest, type Agent, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createAgentPool, type AgentPool } from './agent-pool.ts';
import { bytesSink, jsonResourceVersionSink, listSink, protobufSecretListSink, resourceVersionSink, textSink, type BodySink, type ListPage } from './answer-sinks.ts';
import type { PageBuffer } from './page-buffer.ts';
import { errorFromResponse, isProtobuf, KubeApiError, KubeCredentialsError } from './api-errors.ts';
import { PROTOBUF } from './secret-protobuf.ts';
import { jsonWatchLines, protobufWatchFrames, type WatchEvent } from './watch-streams.ts';
import type { KubeConnection } from './kube-config.ts';

export { KubeApiError, KubeCredentialsError, kubeApiError, statusReason } from './api-errors.ts';
export type { ListPage } from './answer-sinks.ts';
export type { WatchEvent } from './watch-streams.ts';

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  query?: Query;
  /** Serialized as JSON; a string is sent as it is (the typed APIs serialize their own). */
  body?: unknown;
  /** Default `application/json`; patches name their strategy. */
  contentType?: string;
  /** Default `application/json`; e.g. a metadata-only answer (`as=PartialObjectMetadata`). */
  accept?: string;
  /** This request's time limit instead of the client's (Lease calls must end within the renew deadline). */
  timeoutMs?: number;
  /** Abort with ResponseTooLargeError once the answer passes this many characters (list pages). */
  maxResponseChars?: number;
  /** Told the answer's size in characters once it is complete (to size the next list page). */
  onResponseChars?: (chars: number) => void;
}

export interface ListRequestOptions extends RequestOptions {
  /**
   * The collection holds Secrets: ask for protobuf (secret-protobuf.ts decodes it), and take JSON when
   * the server answers with it.
   */
  secretsAsProtobuf?: boolean;
  /**
   * Where the page is read to, shared by the pages of one list (list-page-decoder.ts); default a buffer
   * of its own. The page's items are read from it: iterate them before the next request with it.
   */
  buffer?: PageBuffer;
}

/** An answer larger than the caller's maxResponseChars: cut off, nothing of it kept. */
export class ResponseTooLargeError extends Error { override readonly name = 'ResponseTooLargeError'; }

/** A 2xx answer as text, for callers that parse it themselves (http-library.ts). */
export interface TextAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  text: string;
}

export interface KubeApi {
  /** Like request(), but the answer stays text. */
  requestText(method: string, path: string, options?: RequestOptions): Promise<TextAnswer>;
  /**
   * A GET of a list page, its items parsed only as they are iterated (list-page-decoder.ts); throws
   * KubeApiError for a non-2xx or an answer that is not a JSON object, or a network error.
   */
  requestList(path: string, options?: ListRequestOptions): Promise<ListPage>;
  /** The parsed JSON answer of a 2xx; throws KubeApiError otherwise, or a network error. */
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  /**
   * A write whose answer is read for the object's new resourceVersion only: asked for as its metadata
   * (PartialObjectMetadata), in protobuf, or JSON when the server has no protobuf for it. `accept` is
   * ignored. Throws as request() does.
   */
  requestResourceVersion(method: string, path: string, options?: RequestOptions): Promise<string | undefined>;
  /**
   * Streams a watch, calling `onEvent` per event, until the server ends it (resolves), `signal` aborts it
   * (resolves), or it fails (rejects; also when `onEvent` throws, which ends the stream).
   * `secretsAsProtobuf`: as for requestList().
   */
  watch(path: string, query: Query, onEvent: (event: WatchEvent) => void, signal: AbortSignal, options?: { secretsAsProtobuf?: boolean }): Promise<void>;
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

/** Accept for a list or watch that may come as protobuf: protobuf first, JSON if the server has no protobuf for it. */
const PROTOBUF_OR_JSON = `${PROTOBUF}, application/json`;

/**
 * A write's answer as metadata only: the whole object (a 1 MiB Secret's data, managedFields and all)
 * would be encoded, sent and decoded to read one string. Protobuf first: kube-apiserver encodes it
 * for less CPU than JSON, and only the resourceVersion is decoded. An apiserver that cannot answer so
 * falls back to the JSON metadata, then to the full object.
 */
const METADATA_ANSWER = [PROTOBUF, 'application/json'].map((type) => `${type};as=PartialObjectMetadata;g=meta.k8s.io;v=v1`).concat('application/json').join(', ');

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
  const requests = createAgentPool({ secure, maxSockets: options.maxSockets ?? 32 });
  const watches = createAgentPool({ secure, maxSockets: Infinity });
  const send = secure ? httpsRequest : httpRequest;

  const open = async (method: string, path: string, pool: AgentPool, body: string | undefined, contentType: string, accept = 'application/json'): Promise<ClientRequest> => {
    let auth;
    try {
      auth = await connection.requestAuth();
    } catch (err) {
      throw new KubeCredentialsError(err);
    }
    const headers: Record<string, string> = { ...auth.headers, accept, 'user-agent': userAgent };
    if (body !== undefined) {
      headers['content-type'] = contentType;
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    // A proxy-url's agent is client-node's (it tunnels); otherwise ours, keep-alive, for this TLS material.
    const agent: Agent = auth.proxyAgent ?? pool.agentFor(auth.tls);
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

  /**
   * Sends a request and hands a 2xx answer's bytes to `sink` (any other answer is read whole, for its
   * error's Status, JSON or protobuf). The time limit covers the whole answer; maxResponseChars is
   * checked as the bytes arrive.
   */
  const exchange = async <R>(method: string, path: string, requestOptions: RequestOptions, sink: (status: number, res: IncomingMessage) => BodySink<R>): Promise<{ status: number; headers: IncomingMessage['headers']; body: R }> => {
    const body = requestOptions.body === undefined ? undefined : typeof requestOptions.body === 'string' ? requestOptions.body : JSON.stringify(requestOptions.body);
    const req = await open(method, withQuery(path, requestOptions.query), requests, body, requestOptions.contentType ?? 'application/json', requestOptions.accept);
    const limitMs = requestOptions.timeoutMs ?? timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => req.destroy(new TimeoutError(`no complete answer within ${limitMs} ms`)), limitMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status <= 299;
        const maxChars = requestOptions.maxResponseChars;
        const answer = ok ? sink(status, res) : undefined;
        const error = ok ? undefined : bytesSink();
        const consumer: BodySink<unknown> = answer ?? error!;
        let failed = false;
        const fail = (err: unknown) => {
          failed = true;
          clearTimeout(timer);
          req.destroy();
          reject(err);
        };
        res.on('data', (chunk: Buffer) => {
          if (failed) return;
          try {
            consumer.write(chunk);
          } catch (err) {
            return fail(err);
          }
          if (maxChars !== undefined && consumer.size() > maxChars) fail(new ResponseTooLargeError(`answer larger than ${maxChars} characters`));
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        res.on('end', () => {
          if (failed) return;
          clearTimeout(timer);
          if (error !== undefined) return reject(errorFromResponse(res, error.end()));
          let body: R;
          try {
            body = answer!.end();
          } catch (err) {
            return reject(err);
          }
          requestOptions.onResponseChars?.(answer!.size());
          resolve({ status, headers: res.headers, body });
        });
      });
      req.end(body);
    });
  };

  const requestText = async (method: string, path: string, requestOptions: RequestOptions = {}): Promise<TextAnswer> => {
    const { status, headers, body } = await exchange(method, path, requestOptions, textSink);
    return { status, headers, text: body };
  };

  return {
    requestText,
    async request<T>(method: string, path: string, requestOptions: RequestOptions = {}): Promise<T> {
      const { status, text } = await requestText(method, path, requestOptions);
      try {
        return (text === '' ? undefined : JSON.parse(text)) as T;
      } catch {
        throw new KubeApiError(status, 'InvalidJSON');
      }
    },

    async requestResourceVersion(method, path, requestOptions = {}) {
      const { body } = await exchange(method, path, { ...requestOptions, accept: METADATA_ANSWER }, (status, res) => (isProtobuf(res) ? resourceVersionSink(status) : jsonResourceVersionSink(status)));
      return body;
    },

    async requestList(path, requestOptions = {}) {
      const options = requestOptions.secretsAsProtobuf ? { ...requestOptions, accept: PROTOBUF_OR_JSON } : requestOptions;
      const { body } = await exchange('GET', path, options, (status, res) =>
        isProtobuf(res) ? protobufSecretListSink(status, options.buffer, options.maxResponseChars) : listSink(status, options.buffer, options.maxResponseChars),
      );
      return body;
    },

    async watch(path, query, onEvent, signal, watchOptions = {}) {
      if (signal.aborted) return;
      const accept = watchOptions.secretsAsProtobuf ? PROTOBUF_OR_JSON : 'application/json';
      const req = await open('GET', withQuery(path, { ...query, watch: true }), watches, undefined, 'application/json', accept);
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
          if (status !== 200) {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => finish(errorFromResponse(res, Buffer.concat(chunks))));
            res.on('error', (err) => finish(err));
            return;
          }
          const stopped = () => settled;
          if (isProtobuf(res)) res.on('data', protobufWatchFrames(status, onEvent, finish, stopped));
          else {
            res.setEncoding('utf8');
            res.on('data', jsonWatchLines(status, onEvent, finish, stopped));
          }
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
