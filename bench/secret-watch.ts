// The bench's independent view of the pull secrets: its own list + watch (admin, label-selected, so the
// unrelated Secrets are not in it). It counts every write (MODIFIED event) and every token change per
// "epoch" (a phase of the bench), and lets phases wait for a state or a token, without asking the
// controller anything.
import type { KubeHttp } from './kube-http.ts';
import { SET_LABEL } from './workload.ts';

interface WatchedSecret {
  metadata: { namespace: string; name: string; resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
}

interface Entry {
  set: string;
  resourceVersion: string;
  token: string | undefined;
  annotations: Record<string, string>;
}

export interface EpochCounts {
  /** MODIFIED events on managed Secrets since the epoch began (every write, data or annotations). */
  writes: number;
  /** Writes that changed the managed Secret's registry token. */
  tokenWrites: number;
  /** Managed Secrets whose token now differs from (or exists unlike) the one they held when the epoch began. */
  changedSecrets: number;
  /** Managed Secrets written more than once in the epoch. */
  secretsWrittenTwice: number;
  firstWriteMs: number | undefined;
  lastWriteMs: number | undefined;
}

/** What the bench's own watch asked of the apiserver so far: subtracted from the apiserver's counts (apiserver-cost.ts). */
export interface OwnTraffic {
  lists: number;
  /** Bytes of those list answers, as received. */
  listBytes: number;
  watchesStarted: number;
  /** 1 while the watch request is open. */
  watchesOpen: number;
  /** Watch events received, bookmarks included (the apiserver counts those too). */
  events: number;
  /** Bytes of the watch bodies as received (JSON frames and their newlines: what the apiserver counts). */
  eventBytes: number;
}

export interface SecretWatch {
  start(): Promise<void>;
  stop(): void;
  /** Starts a new epoch (at `now`): counts start from zero, tokens held now are the reference. */
  beginEpoch(): void;
  counts(): EpochCounts;
  managedCount(): number;
  /** Annotated Secrets that hold a registry token now. */
  managedWithToken(): number;
  /** The registry tokens the watched Secrets (managed and probes) hold now. */
  tokens(): string[];
  /** The registry tokens the annotated (managed) Secrets hold now. */
  managedTokens(): string[];
  /** Resolves with the instant (ms) `probe()` first holds (checked on every event and every 200 ms); rejects after `timeoutMs`. */
  until(description: string, probe: () => boolean, timeoutMs: number): Promise<number>;
  /** Resolves with the instant (ms) the given Secret first holds a token, or rejects after `timeoutMs`. */
  tokenSeen(namespace: string, name: string, timeoutMs: number): Promise<number>;
  /** The bench's own traffic so far. */
  own(): OwnTraffic;
  /** Relists after a lost watch (410): the counts around it may be short. */
  readonly gaps: number;
}

function tokenOf(secret: WatchedSecret, registry: string): string | undefined {
  const raw = secret.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  try {
    const config = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> };
    return config.auths?.[registry]?.password || undefined;
  } catch {
    return undefined;
  }
}

export function createSecretWatch(options: { http: KubeHttp; labelSelector: string; registry: string }): SecretWatch {
  const { http, registry } = options;
  const selector = encodeURIComponent(options.labelSelector);
  const entries = new Map<string, Entry>();
  const listeners = new Set<() => void>();
  let abort = new AbortController();
  let stopped = false;
  let resourceVersion = '';
  let gaps = 0;
  const own: OwnTraffic = { lists: 0, listBytes: 0, watchesStarted: 0, watchesOpen: 0, events: 0, eventBytes: 0 };

  let epochTokens = new Map<string, string | undefined>();
  let epochWrites = new Map<string, number>();
  let counts: EpochCounts = { writes: 0, tokenWrites: 0, changedSecrets: 0, secretsWrittenTwice: 0, firstWriteMs: undefined, lastWriteMs: undefined };
  const changed = new Set<string>();
  // Kept as events arrive: probes run on every event, and at 50,000 Secrets a scan per event is minutes of CPU.
  let managed = 0;
  let managedWithToken = 0;
  const tally = (entry: Entry | undefined, sign: 1 | -1) => {
    if (entry?.set !== 'managed') return;
    managed += sign;
    if (entry.token !== undefined) managedWithToken += sign;
  };

  const keyOf = (s: WatchedSecret) => `${s.metadata.namespace}/${s.metadata.name}`;
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };

  const apply = (type: string, secret: WatchedSecret, nowMs: number) => {
    const key = keyOf(secret);
    const set = secret.metadata.labels?.[SET_LABEL] ?? '';
    const token = tokenOf(secret, registry);
    const previous = entries.get(key);
    tally(previous, -1);
    if (type === 'DELETED') {
      entries.delete(key);
      return;
    }
    const entry: Entry = { set, resourceVersion: secret.metadata.resourceVersion, token, annotations: secret.metadata.annotations ?? {} };
    entries.set(key, entry);
    tally(entry, 1);
    if (type !== 'MODIFIED' || set !== 'managed') return;
    counts.writes++;
    counts.firstWriteMs ??= nowMs;
    counts.lastWriteMs = nowMs;
    const n = (epochWrites.get(key) ?? 0) + 1;
    epochWrites.set(key, n);
    if (n === 2) counts.secretsWrittenTwice++;
    if (token !== previous?.token) counts.tokenWrites++;
    const differs = token !== undefined && token !== epochTokens.get(key);
    if (differs && !changed.has(key)) {
      changed.add(key);
      counts.changedSecrets++;
    } else if (!differs && changed.delete(key)) {
      counts.changedSecrets--;
    }
  };

  const list = async () => {
    const text = await http.text(`/api/v1/secrets?labelSelector=${selector}`);
    own.lists++;
    own.listBytes += Buffer.byteLength(text);
    const result = JSON.parse(text) as { metadata: { resourceVersion: string }; items: WatchedSecret[] };
    const now = Date.now();
    for (const item of result.items) apply('ADDED', item, now);
    resourceVersion = result.metadata.resourceVersion;
  };

  const watchLoop = async () => {
    while (!stopped) {
      let expired = false;
      own.watchesStarted++;
      own.watchesOpen = 1;
      try {
        await http.stream(
          `/api/v1/secrets?watch=1&allowWatchBookmarks=true&timeoutSeconds=1800&labelSelector=${selector}&resourceVersion=${resourceVersion}`,
          (object) => {
            own.events++;
            const event = object as { type: string; object: WatchedSecret & { code?: number } };
            if (event.type === 'ERROR') {
              expired = event.object.code === 410;
              return;
            }
            resourceVersion = event.object.metadata.resourceVersion;
            if (event.type !== 'BOOKMARK') apply(event.type, event.object, Date.now());
            notify();
          },
          abort.signal,
          (bytes) => {
            own.eventBytes += bytes;
          },
        );
        own.watchesOpen = 0;
      } catch (err) {
        own.watchesOpen = 0;
        if (stopped) return;
        process.stderr.write(`bench watch: ${(err as Error).message}; restarting\n`);
        await new Promise((r) => setTimeout(r, 500));
      }
      if (expired && !stopped) {
        gaps++;
        await list();
        notify();
      }
    }
  };

  const watch: SecretWatch = {
    async start() {
      await list();
      void watchLoop();
    },
    stop() {
      stopped = true;
      abort.abort();
      abort = new AbortController();
    },
    beginEpoch() {
      epochTokens = new Map([...entries].filter(([, e]) => e.set === 'managed').map(([k, e]) => [k, e.token]));
      epochWrites = new Map();
      changed.clear();
      counts = { writes: 0, tokenWrites: 0, changedSecrets: 0, secretsWrittenTwice: 0, firstWriteMs: undefined, lastWriteMs: undefined };
    },
    counts: () => ({ ...counts }),
    managedCount: () => managed,
    managedWithToken: () => managedWithToken,
    tokens: () => [...entries.values()].flatMap((e) => (e.token === undefined ? [] : [e.token])),
    managedTokens: () => [...entries.values()].flatMap((e) => (e.set !== 'managed' || e.token === undefined ? [] : [e.token])),
    until(description, probe, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!probe()) return;
          cleanup();
          resolve(Date.now());
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for: ${description}`));
        }, timeoutMs);
        const poll = setInterval(check, 200);
        const cleanup = () => {
          clearTimeout(timer);
          clearInterval(poll);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    tokenSeen(namespace, name, timeoutMs) {
      const key = `${namespace}/${name}`;
      return new Promise((resolve, reject) => {
        const check = () => {
          if (entries.get(key)?.token === undefined) return;
          cleanup();
          resolve(Date.now());
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for a token in ${key}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    own: () => ({ ...own }),
    get gaps() {
      return gaps;
    },
  };
  return watch;
}
