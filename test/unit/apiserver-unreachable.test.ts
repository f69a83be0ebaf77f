// With the apiserver unreachable, the list/watch log line names the server and the cause, so an
// operator can tell a wrong address from a firewall from RBAC. A real socket: nothing listens there.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { createKubeApi } from '../../src/kube/api-client.ts';
import { createListWatch } from '../../src/kube/list-watch.ts';
import { createLogger } from '../../src/log.ts';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('apiserver unreachable', () => {
  it('logs the server URL and ECONNREFUSED', async () => {
    const port = await closedPort();
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        callback();
      },
    }) as unknown as DestinationStream;
    const logger = createLogger({ level: 'warn', destination });
    const api = createKubeApi({
      connection: { server: new URL(`https://127.0.0.1:${port}`), namespace: undefined, requestAuth: async () => ({ headers: {}, tls: { rejectUnauthorized: true } }) },
    });
    const cache = createListWatch({
      api,
      path: '/api/v1/secrets',
      transform: () => undefined,
      onEvent: () => undefined,
      description: 'pull Secrets in all namespaces',
      logger,
      random: () => 0.5,
      restartBaseMs: 60_000,
    });
    await cache.start();
    await cache.stop();
    api.close();
    const entry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((e) => e['msg'] === 'list/watch failed; restarting');
    assert.ok(entry, `no list/watch failure logged: ${lines.join('\n')}`);
    assert.equal(entry['server'], `https://127.0.0.1:${port}`);
    assert.equal(entry['error'], 'list/watch pull Secrets in all namespaces: API server unreachable (ECONNREFUSED)');
  });
});
