// A twin of the kube-apiserver's own Secret informer, so its share can be taken out of the apiserver's
// watch metrics. kube-apiserver keeps one watch on every Secret of the cluster over its loopback client
// (its ServiceAccount admission reads Secrets from it): no selector, protobuf, bookmarks on. Every
// Secret write anyone makes reaches it, so apiserver_watch_events_total / _sizes count each write once
// for it besides the controller. The twin opens the same watch (all Secrets, protobuf, bookmarks) as the
// bench's admin and counts the events and bytes it receives: what the apiserver sent the informer in
// the same window, to the frame, up to the timing of bookmarks. Its own traffic is the bench's too.
import type { KubeHttp } from './kube-http.ts';
import type { OwnTraffic } from './secret-watch.ts';

const PROTOBUF = 'application/vnd.kubernetes.protobuf';

export interface InformerTwin {
  start(): Promise<void>;
  stop(): void;
  /** The twin's own traffic so far (what it asked and received). */
  own(): OwnTraffic;
}

export function createInformerTwin(http: KubeHttp): InformerTwin {
  const own: OwnTraffic = { lists: 0, listBytes: 0, watchesStarted: 0, watchesOpen: 0, events: 0, eventBytes: 0 };
  let abort = new AbortController();
  let stopped = false;

  /** The collection's resourceVersion, from a one-item list (JSON: only its metadata is read). */
  const currentVersion = async (): Promise<string> => {
    const text = await http.text('/api/v1/secrets?limit=1');
    own.lists++;
    own.listBytes += Buffer.byteLength(text);
    return (JSON.parse(text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
  };

  const loop = async (firstVersion: string) => {
    let version = firstVersion;
    while (!stopped) {
      // The protobuf watch stream is frames of a 4-byte big-endian length and that many bytes.
      let pending: Buffer = Buffer.alloc(0);
      own.watchesStarted++;
      own.watchesOpen = 1;
      try {
        await http.streamBytes(
          `/api/v1/secrets?watch=1&allowWatchBookmarks=true&timeoutSeconds=1800&resourceVersion=${version}`,
          `${PROTOBUF};stream=watch`,
          (chunk) => {
            own.eventBytes += chunk.length;
            pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
            while (pending.length >= 4) {
              const size = pending.readUInt32BE(0);
              if (pending.length < 4 + size) break;
              own.events++;
              pending = pending.subarray(4 + size);
            }
          },
          abort.signal,
        );
      } catch (err) {
        if (stopped) break;
        process.stderr.write(`bench informer twin: ${(err as Error).message}; restarting\n`);
        await new Promise((r) => setTimeout(r, 500));
      }
      own.watchesOpen = 0;
      // The last version seen is inside protobuf frames the twin does not decode: start again from now.
      // Events between the two are missed; the window's figures then lean towards the controller's side.
      if (!stopped) version = await currentVersion().catch(() => version);
    }
  };

  return {
    async start() {
      void loop(await currentVersion());
    },
    stop() {
      stopped = true;
      abort.abort();
      abort = new AbortController();
    },
    own: () => ({ ...own }),
  };
}
