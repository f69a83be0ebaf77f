// What the controller asks of the apiserver over a phase (issue 16: LIST and WATCH requests and bytes
// per refresh cycle). Bytes on the client side: the controller reaches the apiserver through a
// counting TCP proxy of the bench's own (test/support/tcp-proxy.ts), so they are the controller's
// alone, TLS included. Requests from the apiserver's own /metrics, which count every client: during a
// refresh cycle the bench itself makes no LIST and keeps its one watch open (a watch is counted in
// apiserver_request_total when it ends, so started = ended + change in open watches).
import type { TcpProxy } from '../test/support/tcp-proxy.ts';
import type { KubeHttp } from './kube-http.ts';
import { sumSamples } from './prom-text.ts';

export interface TrafficSnapshot {
  lists: Record<string, number>;
  watchesEnded: Record<string, number>;
  watchesOpen: Record<string, number>;
  up: number;
  down: number;
  connections: number;
}

export interface Traffic {
  /** LIST requests by resource, all clients. */
  lists: Record<string, number>;
  /** WATCH requests started by resource, all clients (ended + change in open). */
  watches: Record<string, number>;
  /** Bytes through the controller's connection(s): requests up, answers and watch events down. */
  bytesUp: number;
  bytesDown: number;
  newConnections: number;
}

const RESOURCES = ['secrets', 'namespaces', 'serviceaccounts', 'leases', 'events', 'pods'];

export async function snapshotTraffic(admin: KubeHttp, proxy: TcpProxy): Promise<TrafficSnapshot> {
  const text = await admin.text('/metrics');
  const byResource = (name: string, verb: string) => Object.fromEntries(RESOURCES.map((resource) => [resource, sumSamples(text, name, { resource, verb })]));
  const { up, down, connections } = proxy.counts();
  return {
    lists: byResource('apiserver_request_total', 'LIST'),
    watchesEnded: byResource('apiserver_request_total', 'WATCH'),
    watchesOpen: byResource('apiserver_longrunning_requests', 'WATCH'),
    up,
    down,
    connections,
  };
}

export function trafficBetween(before: TrafficSnapshot, after: TrafficSnapshot): Traffic {
  const diff = (pick: (s: TrafficSnapshot) => Record<string, number>) =>
    Object.fromEntries(RESOURCES.map((r) => [r, (pick(after)[r] ?? 0) - (pick(before)[r] ?? 0)]).filter(([, n]) => n !== 0));
  const ended = diff((s) => s.watchesEnded);
  const opened = diff((s) => s.watchesOpen);
  const watches = Object.fromEntries(
    RESOURCES.map((r) => [r, (ended[r] ?? 0) + (opened[r] ?? 0)]).filter(([, n]) => n !== 0),
  );
  return {
    lists: diff((s) => s.lists),
    watches,
    bytesUp: after.up - before.up,
    bytesDown: after.down - before.down,
    newConnections: after.connections - before.connections,
  };
}

export function describeTraffic(t: Traffic): string {
  const list = (counts: Record<string, number>) => (Object.keys(counts).length === 0 ? '0' : Object.entries(counts).map(([r, n]) => `${n} ${r}`).join(', '));
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  return `LIST ${list(t.lists)}; WATCH started ${list(t.watches)}; controller bytes up ${mib(t.bytesUp)}, down ${mib(t.bytesDown)}; new connections ${t.newConnections}`;
}
