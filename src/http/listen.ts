// Starting an HTTP server as a promise of the bound port (port 0 picks a free one), and stopping it gracefully.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Rejects with the listen error (EADDRINUSE, EACCES) instead of an unhandled 'error' event. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Stops accepting, lets requests in flight finish for up to `graceMs`, then closes what is left;
 * idle keep-alive connections are closed at once.
 */
export function closeGracefully(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
