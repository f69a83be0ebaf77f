// A fetch over node:http(s) for processes that live for one request (the credential provider). The
// global fetch loads undici on first use, ~100 ms of CPU at every start (bench/credential-provider.ts);
// the kubelet starts the plugin once per uncached pull. It covers what an Exchanger uses of fetch:
// method, headers, a string/URLSearchParams/bytes body, an AbortSignal, redirects never followed,
// and an answer with status, headers.get(), a body reader, text() and json(). Network failures reject
// like fetch's: a TypeError whose cause carries the system error code.
import { request as httpRequest, type IncomingMessage } from 'node:http';

type HeadersInitLike = Record<string, string> | Array<[string, string]> | { forEach(cb: (value: string, key: string) => void): void };

export interface LeanRequestInit {
  method?: string;
  headers?: HeadersInitLike;
  body?: string | URLSearchParams | Uint8Array | null;
  signal?: AbortSignal | null;
  /** Accepted for fetch compatibility; redirects are never followed, whatever it says. */
  redirect?: string;
}

interface LeanHeaders {
  get(name: string): string | null;
  has(name: string): boolean;
  forEach(cb: (value: string, key: string) => void): void;
}

function toHeaderRecord(init: HeadersInitLike | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!init) return out;
  if (Array.isArray(init)) for (const [k, v] of init) out[k.toLowerCase()] = v;
  else if (typeof (init as { forEach?: unknown }).forEach === 'function') (init as { forEach(cb: (v: string, k: string) => void): void }).forEach((v, k) => (out[k.toLowerCase()] = v));
  else for (const [k, v] of Object.entries(init as Record<string, string>)) out[k.toLowerCase()] = v;
  return out;
}

function responseHeaders(res: IncomingMessage): LeanHeaders {
  const value = (name: string): string | null => {
    const raw = res.headers[name.toLowerCase()];
    if (raw === undefined) return null;
    return Array.isArray(raw) ? raw.join(', ') : raw;
  };
  return {
    get: value,
    has: (name) => value(name) !== null,
    forEach: (cb) => {
      for (const name of Object.keys(res.headers)) cb(value(name)!, name);
    },
  };
}

/** The answer: enough of Response for an Exchanger (typed as Response at the seam, see leanFetch). */
function leanResponse(res: IncomingMessage) {
  const iterator = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let used = false;
  const reader = {
    async read(): Promise<{ done: boolean; value?: Uint8Array }> {
      const next = await iterator.next();
      return next.done ? { done: true } : { done: false, value: new Uint8Array(next.value) };
    },
    async cancel(): Promise<void> {
      res.destroy();
    },
    releaseLock(): void {},
  };
  const readAll = async (): Promise<Buffer> => {
    if (used) throw new TypeError('body already read');
    used = true;
    const chunks: Buffer[] = [];
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      chunks.push(next.value);
    }
    return Buffer.concat(chunks);
  };
  const status = res.statusCode ?? 0;
  return {
    status,
    statusText: res.statusMessage ?? '',
    ok: status >= 200 && status < 300,
    headers: responseHeaders(res),
    body: {
      getReader() {
        if (used) throw new TypeError('body already read');
        used = true;
        return reader;
      },
    },
    text: async () => (await readAll()).toString('utf8'),
    json: async () => JSON.parse((await readAll()).toString('utf8')) as unknown,
  };
}

function toBody(body: LeanRequestInit['body']): string | Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  return Buffer.from(body);
}

async function leanFetchImpl(input: string | URL, init: LeanRequestInit = {}): Promise<unknown> {
  const url = typeof input === 'string' ? new URL(input) : input;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError('fetch failed', { cause: new Error(`unsupported protocol ${url.protocol}`) });
  const signal = init.signal ?? undefined;
  signal?.throwIfAborted();
  const body = toBody(init.body);
  const headers = toHeaderRecord(init.headers);
  if (init.body instanceof URLSearchParams && headers['content-type'] === undefined) headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  // node:https (TLS) is loaded only for an https URL: loading it alone costs ~50 ms of CPU.
  const send = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: init.method ?? 'GET', headers, ...(signal ? { signal } : {}) }, (res) => resolve(leanResponse(res)));
    req.on('error', (error) => {
      if (signal?.aborted) reject(signal.reason);
      else reject(new TypeError('fetch failed', { cause: error }));
    });
    req.end(body);
  });
}

/** fetch-compatible: pass it where an Exchanger takes `fetch`. */
export const leanFetch = leanFetchImpl as unknown as typeof globalThis.fetch;
