// How the transport turns an answer's bytes into text: one chunk decoded at the end, several decoded as
// they arrive (a character split between two chunks must come out whole), and the size cap. A real
// HTTP server on loopback that writes the answer in the chunks each case names.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKubeApi, ResponseTooLargeError, type KubeApi } from '../../src/kube/api-client.ts';

async function serve(chunks: Buffer[]): Promise<{ api: KubeApi; server: Server }> {
  const server = createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const chunk of chunks) {
      res.write(chunk);
      // Apart in time, so the client reads them as separate chunks.
      await sleep(20);
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const api = createKubeApi({
    connection: { server: new URL(`http://127.0.0.1:${port}`), namespace: undefined, requestAuth: async () => ({ headers: {}, tls: { rejectUnauthorized: true } }) },
  });
  return { api, server };
}

async function answer(chunks: Buffer[], maxResponseChars?: number): Promise<string> {
  const { api, server } = await serve(chunks);
  try {
    return (await api.requestText('GET', '/x', maxResponseChars === undefined ? {} : { maxResponseChars })).text;
  } finally {
    api.close();
    server.close();
  }
}

describe('api client: the answer as text', () => {
  const doc = JSON.stringify({ metadata: { name: 'pull-secret', annotations: { note: 'Grüße, 東京 ✓' } } });
  const bytes = Buffer.from(doc, 'utf8');

  it('decodes an answer that arrives in one chunk', async () => {
    assert.equal(await answer([bytes]), doc);
  });

  it('decodes a character whose bytes arrive in two chunks', async () => {
    const split = bytes.indexOf(Buffer.from('東', 'utf8')) + 1; // inside the three bytes of 東
    assert.equal(await answer([bytes.subarray(0, split), bytes.subarray(split)]), doc);
  });

  it('decodes an answer of many chunks', async () => {
    const chunks = [];
    for (let at = 0; at < bytes.length; at += 7) chunks.push(bytes.subarray(at, at + 7));
    assert.equal(await answer(chunks), doc);
  });

  it('refuses an answer over the cap, in one chunk or several, and takes one at the cap', async () => {
    const ascii = Buffer.from('x'.repeat(100));
    await assert.rejects(answer([ascii], 99), ResponseTooLargeError);
    await assert.rejects(answer([ascii.subarray(0, 60), ascii.subarray(60)], 99), ResponseTooLargeError);
    assert.equal(await answer([ascii.subarray(0, 60), ascii.subarray(60)], 100), 'x'.repeat(100));
  });
});
