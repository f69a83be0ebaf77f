// A small fetch over node:https that trusts a given CA bundle (a cluster's private CA), bounded in
// time and size. Global fetch cannot take a CA without undici's Agent, which is not a dependency.
// node:https (with tls, ~2.4 MiB of RSS) is loaded on the first fetch: an sts whose issuers all have
// static keys never loads it.

export interface HttpsFetchOptions {
  /** PEM bundle to trust instead of the system roots; undefined = system roots. */
  caPem?: string;
  timeoutMs?: number;
  /** Larger answers are refused: a JWKS or discovery document is a few KB. */
  maxBytes?: number;
}

export type FetchLike = (url: string, init?: { headers?: Headers | Record<string, string>; signal?: AbortSignal }) => Promise<Response>;

/** Returns a fetch-compatible function (GET only, no redirects) for jose's `customFetch` and discovery. */
export function createHttpsFetch(options: HttpsFetchOptions = {}): FetchLike {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxBytes = options.maxBytes ?? 1_048_576;
  return (url, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') {
        reject(new Error('only https URLs are fetched'));
        return;
      }
      const headers: Record<string, string> = { accept: 'application/json' };
      if (init.headers) new Headers(init.headers).forEach((value, key) => (headers[key] = value));
      const req = process.getBuiltinModule('node:https').request(
        target,
        { method: 'GET', headers, timeout: timeoutMs, signal: init.signal, ...(options.caPem ? { ca: options.caPem } : {}) },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
              req.destroy(new Error(`response larger than ${maxBytes} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [key, value] of Object.entries(res.headers)) {
              if (typeof value === 'string') responseHeaders.set(key, value);
            }
            const status = res.statusCode ?? 500;
            // Response refuses a body for these statuses; none of them is a usable answer here anyway.
            const body = [204, 205, 304].includes(status) || status < 200 ? null : Buffer.concat(chunks);
            resolve(new Response(body, { status: status < 200 ? 502 : status, headers: responseHeaders }));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
}
