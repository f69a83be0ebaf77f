// What a phase of the controller costs the kube-apiserver (issue 16): LIST, GET and WATCH requests and
// the bytes it sent for them, and the writes it took, by resource. Read from the apiserver's own
// /metrics (kube-apiserver v1.34, k8s.io/apiserver pkg/endpoints/metrics and handlers/watch.go):
//   apiserver_request_total{verb,resource}          every request, counted when it ends
//   apiserver_longrunning_requests{verb="WATCH"}    watches open now (a watch started = ended + change in open)
//   apiserver_response_sizes_sum{verb,resource}     bytes of GET and LIST answers (the apiserver records no other verb)
//   apiserver_watch_events_total{resource}          events sent to watchers, each watcher counted apart
//   apiserver_watch_events_sizes_sum{resource}      bytes of those events as written (JSON frame and newline)
// These count every client. In a bench phase the other clients of Secrets are the bench (its watch and
// the lists it makes after a lost watch: secret-watch.ts `own()`; its informer twin) and kube-apiserver's
// own loopback informer on every Secret, which sees every write whoever makes it; the twin
// (informer-twin.ts) receives what that informer receives. The bench's traffic is subtracted, and the
// informer's as mirrored by the twin, so what remains is the controller's.
import type { KubeHttp } from './kube-http.ts';
import { sumSamples } from './prom-text.ts';
import type { OwnTraffic } from './secret-watch.ts';

const RESOURCES = ['secrets', 'namespaces', 'leases', 'serviceaccounts', 'events', 'pods'] as const;
type Resource = (typeof RESOURCES)[number];
const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'DELETE'] as const;

interface ResourceSnapshot {
  lists: number;
  listBytes: number;
  gets: number;
  getBytes: number;
  watchesEnded: number;
  watchesOpen: number;
  watchEvents: number;
  watchBytes: number;
  writes: Record<(typeof WRITE_VERBS)[number], number>;
}

export interface ApiserverSnapshot {
  byResource: Record<Resource, ResourceSnapshot>;
  /** The bench's own Secret traffic so far (its watch and relists). */
  own: OwnTraffic;
  /** The informer twin's traffic so far: the bench's too, and a mirror of the apiserver's own informer. */
  twin: OwnTraffic;
}

export interface ReadCost {
  requests: number;
  bytes: number;
}

export interface WatchCost {
  /** Watch requests started in the phase. */
  started: number;
  events: number;
  bytes: number;
}

export interface ApiserverCost {
  /** By resource, only resources with any traffic; the bench's own Secret traffic taken out. */
  lists: Partial<Record<Resource, ReadCost>>;
  gets: Partial<Record<Resource, ReadCost>>;
  watches: Partial<Record<Resource, WatchCost>>;
  /** Mutating requests by resource and verb. */
  writes: Partial<Record<Resource, Partial<Record<(typeof WRITE_VERBS)[number], number>>>>;
  /** Secret watches open at the phase's start besides the bench's and its twin's: the apiserver's informer, and the controller's when it runs. */
  otherSecretWatchesOpenAtStart: number;
  /** What the apiserver's own Secret informer received in the phase (as the twin saw it): taken out of `watches.secrets`. */
  apiserverInformer: { events: number; bytes: number };
}

export async function snapshotApiserver(admin: KubeHttp, own: OwnTraffic, twin: OwnTraffic): Promise<ApiserverSnapshot> {
  const text = await admin.text('/metrics');
  const byResource = {} as Record<Resource, ResourceSnapshot>;
  for (const resource of RESOURCES) {
    const writes = {} as ResourceSnapshot['writes'];
    for (const verb of WRITE_VERBS) writes[verb] = sumSamples(text, 'apiserver_request_total', { resource, verb });
    byResource[resource] = {
      lists: sumSamples(text, 'apiserver_request_total', { resource, verb: 'LIST' }),
      listBytes: sumSamples(text, 'apiserver_response_sizes_sum', { resource, verb: 'LIST' }),
      // GET of the resource itself (subresource ""), not e.g. serviceaccounts/token.
      gets: sumSamples(text, 'apiserver_request_total', { resource, subresource: '', verb: 'GET' }),
      getBytes: sumSamples(text, 'apiserver_response_sizes_sum', { resource, subresource: '', verb: 'GET' }),
      watchesEnded: sumSamples(text, 'apiserver_request_total', { resource, verb: 'WATCH' }),
      watchesOpen: sumSamples(text, 'apiserver_longrunning_requests', { resource, verb: 'WATCH' }),
      watchEvents: sumSamples(text, 'apiserver_watch_events_total', { resource }),
      watchBytes: sumSamples(text, 'apiserver_watch_events_sizes_sum', { resource }),
      writes,
    };
  }
  return { byResource, own: { ...own }, twin: { ...twin } };
}

/** The cost between two snapshots, without the bench's own Secret traffic. */
export function apiserverCostBetween(before: ApiserverSnapshot, after: ApiserverSnapshot): ApiserverCost {
  const twinEvents = after.twin.events - before.twin.events;
  const twinBytes = after.twin.eventBytes - before.twin.eventBytes;
  const cost: ApiserverCost = { lists: {}, gets: {}, watches: {}, writes: {}, otherSecretWatchesOpenAtStart: 0, apiserverInformer: { events: twinEvents, bytes: twinBytes } };
  const d = (pick: (t: OwnTraffic) => number) => pick(after.own) - pick(before.own) + pick(after.twin) - pick(before.twin);
  const ownLists = d((t) => t.lists);
  const ownListBytes = d((t) => t.listBytes);
  const ownWatches = d((t) => t.watchesStarted);
  // The bench's watch and the twin, and once more the twin's share for the apiserver's own informer.
  const ownEvents = d((t) => t.events) + twinEvents;
  const ownEventBytes = d((t) => t.eventBytes) + twinBytes;
  for (const resource of RESOURCES) {
    const a = after.byResource[resource];
    const b = before.byResource[resource];
    const secrets = resource === 'secrets';
    const lists = { requests: a.lists - b.lists - (secrets ? ownLists : 0), bytes: a.listBytes - b.listBytes - (secrets ? ownListBytes : 0) };
    if (lists.requests !== 0 || lists.bytes !== 0) cost.lists[resource] = lists;
    const gets = { requests: a.gets - b.gets, bytes: a.getBytes - b.getBytes };
    if (gets.requests !== 0 || gets.bytes !== 0) cost.gets[resource] = gets;
    const watches = {
      started: a.watchesEnded - b.watchesEnded + (a.watchesOpen - b.watchesOpen) - (secrets ? ownWatches : 0),
      events: a.watchEvents - b.watchEvents - (secrets ? ownEvents : 0),
      bytes: a.watchBytes - b.watchBytes - (secrets ? ownEventBytes : 0),
    };
    if (watches.started !== 0 || watches.events !== 0 || watches.bytes !== 0) cost.watches[resource] = watches;
    const writes: Partial<Record<(typeof WRITE_VERBS)[number], number>> = {};
    for (const verb of WRITE_VERBS) {
      const n = a.writes[verb] - b.writes[verb];
      if (n !== 0) writes[verb] = n;
    }
    if (Object.keys(writes).length > 0) cost.writes[resource] = writes;
  }
  cost.otherSecretWatchesOpenAtStart = before.byResource.secrets.watchesOpen - before.own.watchesOpen - before.twin.watchesOpen;
  return cost;
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** "LIST 101 (212.3 MiB), WATCH 1 (50,210 events, 123.4 MiB)" for Secrets: the table's figure. */
export function describeSecretReads(cost: ApiserverCost): string {
  const list = cost.lists.secrets ?? { requests: 0, bytes: 0 };
  const watch = cost.watches.secrets ?? { started: 0, events: 0, bytes: 0 };
  return `LIST ${list.requests} (${mib(list.bytes)}), WATCH ${watch.started} (${watch.events.toLocaleString('en-US')} events, ${mib(watch.bytes)})`;
}

/** Every resource with traffic, for the details. */
export function describeApiserverCost(cost: ApiserverCost): string {
  const reads = (what: string, m: Partial<Record<Resource, ReadCost>>) =>
    Object.entries(m).map(([r, c]) => `${what} ${r} ${c.requests} (${mib(c.bytes)})`);
  const watches = Object.entries(cost.watches).map(([r, c]) => `WATCH ${r} ${c.started} started (${c.events.toLocaleString('en-US')} events, ${mib(c.bytes)})`);
  const writes = Object.entries(cost.writes).map(([r, verbs]) => `${r} ${Object.entries(verbs).map(([v, n]) => `${v} ${n.toLocaleString('en-US')}`).join('/')}`);
  const parts = [...reads('LIST', cost.lists), ...reads('GET', cost.gets), ...watches];
  if (writes.length > 0) parts.push(`writes: ${writes.join(', ')}`);
  parts.push(`taken out for kube-apiserver's own Secret informer (its twin's count): ${cost.apiserverInformer.events.toLocaleString('en-US')} events, ${mib(cost.apiserverInformer.bytes)}`);
  parts.push(`Secret watches open at the start besides the bench's: ${cost.otherSecretWatchesOpenAtStart}`);
  return parts.join('; ') || 'none';
}
