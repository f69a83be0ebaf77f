// How the transport turns an answer's bytes into text: one chunk decoded at the end, several decoded as
// they arrive (a character split between two chunks must come out whole), and the size cap; and a list
// page into its items (requestList). A real HTTP server on loopback that writes the answer in the
// chunks each case names.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKubeApi, KubeApiError, ResponseTooLargeError, type KubeApi, type ListPage } from '../../src/kube/api-client.ts';
import { PROTOBUF } from '../../src/kube/secret-protobuf.ts';
import { envelope, msg } from '../support/protobuf-writer.ts';

async function serve(chunks: Buffer[], status = 200): Promise<{ api: KubeApi; server: Server }> {
  const server = createServer(async (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
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

async function listAnswer<T>(chunks: Buffer[], use: (page: ListPage) => T, options: { status?: number; maxResponseChars?: number; sizes?: number[] } = {}): Promise<T> {
  const { api, server } = await serve(chunks, options.status);
  try {
    const page = await api.requestList('/api/v1/secrets', {
      ...(options.maxResponseChars === undefined ? {} : { maxResponseChars: options.maxResponseChars }),
      onResponseChars: (n) => options.sizes?.push(n),
    });
    return use(page);
  } finally {
    api.close();
    server.close();
  }
}

describe('api client: a list page', () => {
  const page = {
    kind: 'SecretList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '4412', continue: 'next' },
    items: [1, 2, 3].map((n) => ({ metadata: { name: `s${n}`, namespace: 'team', annotations: { note: 'Grüße, 東京 ✓ "}]' } }, data: { k: 'dg==' } })),
  };
  const bytes = Buffer.from(JSON.stringify(page), 'utf8');

  it('gives the metadata and each item, however the answer is cut', async () => {
    for (const size of [bytes.length, 13]) {
      const chunks = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      const sizes: number[] = [];
      const got = await listAnswer(chunks, (p) => ({ metadata: p.metadata, count: p.itemCount, items: [...p.items()] }), { sizes });
      assert.deepEqual(got, { metadata: page.metadata, count: 3, items: page.items });
      assert.deepEqual(sizes, [bytes.length], 'the size told is the answer in bytes');
    }
  });

  it('refuses an answer that is not a list object as InvalidJSON, and one over the cap as too large', async () => {
    const truncated = bytes.subarray(0, bytes.length - 5);
    await assert.rejects(listAnswer([truncated], (p) => p), (err) => err instanceof KubeApiError && err.status === 200 && /InvalidJSON/.test(String(err.reason)));
    await assert.rejects(listAnswer([Buffer.from('[1,2]')], (p) => p), (err) => err instanceof KubeApiError && /InvalidJSON/.test(String(err.reason)));
    await assert.rejects(listAnswer([bytes.subarray(0, 40), bytes.subarray(40)], (p) => p, { maxResponseChars: 60 }), ResponseTooLargeError);
  });

  it('gives the items before one that is not JSON, then InvalidJSON', async () => {
    const broken = Buffer.from(JSON.stringify(page).replace('"s3"', '"s3" x'), 'utf8');
    const seen: unknown[] = [];
    await assert.rejects(
      listAnswer([broken], (p) => {
        for (const item of p.items()) seen.push(item);
      }),
      (err) => err instanceof KubeApiError && /InvalidJSON/.test(String(err.reason)),
    );
    assert.equal(seen.length, 2);
  });

  it('reads an error answer as text, for its Status', async () => {
    const status = Buffer.from(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: 'secrets is forbidden' }));
    await assert.rejects(listAnswer([status.subarray(0, 10), status.subarray(10)], (p) => p, { status: 403 }), (err) => err instanceof KubeApiError && err.status === 403 && err.reason === 'Forbidden');
  });
});

describe('api client: a write answered by its resourceVersion', () => {
  /** Answers every request with `body` of `contentType`, recording the Accept it was asked with. */
  async function answering(contentType: string, body: Buffer) {
    const accepts: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      accepts.push(req.headers.accept);
      req.resume().on('end', () => res.writeHead(200, { 'content-type': contentType }).end(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const api = createKubeApi({
      connection: { server: new URL(`http://127.0.0.1:${port}`), namespace: undefined, requestAuth: async () => ({ headers: {}, tls: { rejectUnauthorized: true } }) },
    });
    const write = () => api.requestResourceVersion('PATCH', '/api/v1/namespaces/ns/secrets/s', { body: { metadata: {} }, contentType: 'application/merge-patch+json' });
    return { write, accepts, close: () => (api.close(), server.close()) };
  }
  const metadata = msg([1, 'pull-secret'], [3, 'ns'], [6, '4711'], [17, msg([1, 'kube-regcred'])]);

  it('asks for the metadata, protobuf first, and reads the version from either answer', async () => {
    const protobuf = await answering(PROTOBUF, envelope('meta.k8s.io/v1', 'PartialObjectMetadata', msg([1, metadata])));
    try {
      assert.equal(await protobuf.write(), '4711');
      assert.match(protobuf.accepts[0] ?? '', /^application\/vnd\.kubernetes\.protobuf;as=PartialObjectMetadata;g=meta\.k8s\.io;v=v1, application\/json;as=PartialObjectMetadata/);
    } finally {
      protobuf.close();
    }
    // A server without protobuf metadata answers with the whole object, in JSON.
    const json = await answering('application/json', Buffer.from(JSON.stringify({ kind: 'Secret', metadata: { name: 's', resourceVersion: '4712' }, data: { a: 'eA==' } })));
    try {
      assert.equal(await json.write(), '4712');
    } finally {
      json.close();
    }
  });

  it('refuses an answer that is not one object as InvalidProtobuf or InvalidJSON', async () => {
    for (const [type, body, reason] of [
      [PROTOBUF, Buffer.from('k8s\0garbage'), 'InvalidProtobuf'],
      [PROTOBUF, envelope('v1', 'SecretList', msg([1, msg([2, '9'])])), 'InvalidProtobuf'],
      ['application/json', Buffer.from('{"metadata":'), 'InvalidJSON'],
    ] as const) {
      const server = await answering(type, body);
      try {
        await assert.rejects(server.write(), (err) => err instanceof KubeApiError && err.status === 200 && err.reason === reason);
      } finally {
        server.close();
      }
    }
  });
});
