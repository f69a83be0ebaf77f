// A minimal JSON-over-HTTPS client for the apiserver with one keep-alive connection pool: the bench's
// tool for bulk set-up, its independent watch, and the "bare client" baseline. It never logs a token.
import { Agent, request } from 'node:https';

export interface KubeHttpOptions {
  server: string;
  caPem: string;
  /** Bearer token of the caller (admin for set-up, the controller's ServiceAccount for the baseline). */
  token: string;
  /** Connections kept open at most: the baseline's concurrency, or the set-up's. */
  maxSockets: number;
}

export interface KubeResponse<T = unknown> {
  status: number;
  body: T;
}

export interface KubeHttp {
  /** One request; resolves with any status (callers decide what is an error). */
  call<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse<T>>;
  /** Like call() but throws unless the status is 2xx; the error names the status and the reason only. */
  ok<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  /**
   * A streaming GET (watch): one parsed JSON object per line, until the server ends it or `signal` aborts.
   * `onBytes` hears the size of every chunk of the body as received (the bench counts its own watch traffic).
   */
  stream(path: string, onObject: (object: unknown) => void, signal: AbortSignal, onBytes?: (bytes: number) => void): Promise<void>;
  /** A streaming GET whose body is handed over as raw chunks (e.g. a protobuf watch), until it ends or `signal` aborts. */
  streamBytes(path: string, accept: string, onChunk: (chunk: Buffer) => void, signal: AbortSignal): Promise<void>;
  /** The raw text of a GET (e.g. /metrics); `accept` picks a representation (e.g. PartialObjectMetadataList). */
  text(path: string, accept?: string): Promise<string>;
  close(): void;
}

export const MERGE_PATCH = 'application/merge-patch+json';

export class KubeHttpError extends Error {
  readonly status: number;
  constructor(method: string, path: string, status: number, reason: string) {
    super(`${method} ${path}: HTTP ${status}${reason ? ` (${reason})` : ''}`);
    this.name = 'KubeHttpError';
    this.status = status;
  }
}

export function createKubeHttp(options: KubeHttpOptions): KubeHttp {
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets, ca: options.caPem });
  const base = new URL(options.server);

  const raw = (method: string, path: string, body: string | undefined, contentType: string, accept = 'application/json'): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept };
      if (body !== undefined) {
        headers['content-type'] = contentType;
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      const req = request({ host: base.hostname, port: base.port, path, method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const call = async <T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse<T>> => {
    const { status, text } = await raw(method, path, body === undefined ? undefined : JSON.stringify(body), contentType);
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON (e.g. a plain-text error): keep the text
    }
    return { status, body: parsed as T };
  };

  return {
    call,
    async ok<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
      const res = await call<T>(method, path, body, contentType);
      if (res.status < 200 || res.status > 299) {
        // A Status object's reason is a constant word (AlreadyExists, Conflict...): safe to show.
        const reason = (res.body as { reason?: string } | undefined)?.reason ?? '';
        throw new KubeHttpError(method, path, res.status, typeof reason === 'string' ? reason : '');
      }
      return res.body;
    },
    stream(path, onObject, signal, onBytes) {
      return new Promise((resolve, reject) => {
        const req = request(
          { host: base.hostname, port: base.port, path, method: 'GET', agent, signal, headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' } },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume();
              reject(new KubeHttpError('GET', path.split('?')[0] ?? path, res.statusCode ?? 0, ''));
              return;
            }
            let buffered = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              onBytes?.(Buffer.byteLength(chunk));
              buffered += chunk;
              let newline = buffered.indexOf('\n');
              while (newline >= 0) {
                const line = buffered.slice(0, newline);
                buffered = buffered.slice(newline + 1);
                if (line.trim() !== '') onObject(JSON.parse(line));
                newline = buffered.indexOf('\n');
              }
            });
            res.on('end', () => resolve());
            res.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
          },
        );
        req.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
        req.end();
      });
    },
    streamBytes(path, accept, onChunk, signal) {
      return new Promise((resolve, reject) => {
        const req = request({ host: base.hostname, port: base.port, path, method: 'GET', agent, signal, headers: { authorization: `Bearer ${options.token}`, accept } }, (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new KubeHttpError('GET', path.split('?')[0] ?? path, res.statusCode ?? 0, ''));
            return;
          }
          res.on('data', onChunk);
          res.on('end', () => resolve());
          res.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
        });
        req.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
        req.end();
      });
    },
    async text(path, accept) {
      const { status, text } = await raw('GET', path, undefined, 'application/json', accept);
      if (status !== 200) throw new KubeHttpError('GET', path, status, '');
      return text;
    },
    close() {
      agent.destroy();
    },
  };
}
