// fetch that trusts one extra CA (the test bed's), for clients of the apiserver's HTTPS endpoints.
import { request } from 'node:https';

/**
 * A fetch-compatible function for GET requests to servers whose certificate chains to `caPem`.
 * Built on node:https because Node's global fetch cannot take a per-call CA without undici imports.
 */
export type FetchLike = (url: string | URL, init?: { headers?: Headers | Record<string, string>; signal?: AbortSignal }) => Promise<Response>;

export function fetchWithCa(caPem: string): FetchLike {
  return (url, init = {}) =>
    new Promise((resolve, reject) => {
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      const req = request(url, { ca: caPem, headers, signal: init.signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers }));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
}
