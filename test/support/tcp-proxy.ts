// A TCP proxy of the test's own between one client and a server, on 127.0.0.1: it forwards bytes both
// ways until black-holed, then forwards nothing (bytes are dropped, connections stay open, new ones are
// accepted and hang), like a network partition. heal() resets the connections the partition broke (a
// TLS stream with dropped bytes cannot resume) and forwards again.
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Client connections accepted so far (a TLS client opens one per handshake). */
  connections(): number;
  blackhole(): void;
  heal(): void;
  /** Bytes forwarded so far, client → server (up) and server → client (down), and connections accepted. */
  counts(): { up: number; down: number; connections: number };
  stop(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let dropping = false;
  const counted = { up: 0, down: 0, connections: 0 };
  let accepted = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket; broken: boolean }>();
  const server = createServer((client) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    counted.connections++;
    const pair = { client, upstream, broken: dropping };
    pairs.add(pair);
    const close = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('data', (chunk) => {
      if (dropping) pair.broken = true;
      else {
        counted.up += chunk.length;
        upstream.write(chunk);
      }
    });
    upstream.on('data', (chunk) => {
      if (dropping) pair.broken = true;
      else {
        counted.down += chunk.length;
        client.write(chunk);
      }
    });
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => accepted,
    blackhole() {
      dropping = true;
      for (const pair of pairs) pair.broken = true;
    },
    heal() {
      dropping = false;
      for (const pair of [...pairs]) {
        if (!pair.broken) continue;
        pair.client.destroy();
        pair.upstream.destroy();
        pairs.delete(pair);
      }
    },
    counts: () => ({ ...counted }),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
