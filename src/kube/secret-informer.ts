// A read-only cache of Secrets of one type, kept by list-watch.ts with a server-side field selector (one
// cluster-wide, or one per configured namespace). Whether a Secret is cached is decided as it arrives
// (`keep`): the watch sees every Secret of its type in the cluster, the cache holds only those the
// controller acts on, so memory follows the managed Secrets, not the size of the cluster.
import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { ANNOTATIONS } from '../annotations.ts';
import type { Logger } from '../log.ts';
import type { Random } from '../clock.ts';
import type { RegcredError } from '../errors.ts';
import type { KubeApi } from './api-client.ts';
import { DOCKER_CONFIG_JSON_TYPE, PUSH_SECRET_TYPE } from '../dockerconfig.ts';
import { compactDockerConfig, createCompactConfigs, type CompactDockerConfig } from './compact-docker-config.ts';
import { secretInputDigest } from './secret-input-digest.ts';
import { share, shareMap } from './shared-strings.ts';
import type { ItemFilter } from './list-item-filter.ts';
import { coreCollectionPath, createListWatch, objectKey, type ListWatchCache } from './list-watch.ts';

/**
 * A Secret as the controller sees it: a frozen copy, so nothing downstream can mutate the informer's
 * cached object (sample-controller: "NEVER modify objects from the store").
 */
export interface SecretObject {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly type: string | undefined;
  readonly annotations: Readonly<Record<string, string>>;
  /**
   * base64 values, as the API returns them; with `dataKey` set, only that key (and only when small
   * enough), and not even that when `compactConfig` holds it.
   */
  readonly data: Readonly<Record<string, string>>;
  /** With `dataKey` set: the data key's document in compact form, when it is the one entry we write. */
  readonly compactConfig?: CompactDockerConfig;
  /** Set when the data key was larger than the cap and not kept: its decoded size in bytes. */
  readonly droppedDataBytes?: number;
  /**
   * Digest of the annotations that are not kube-regcred's (with `dataKey` set they are not kept: an
   * apply's last-applied-configuration alone can hold a copy of the whole Secret). Lets a change to
   * them still count as a change.
   */
  readonly foreignAnnotationsDigest?: string;
  /**
   * What counts as "the Secret changed" for the controller, besides its data (secret-input-digest.ts):
   * labels are in it and nowhere else, since nothing reads them.
   */
  readonly inputDigest: string;
}

/** What the cache keeps of each Secret: bounded, whatever a tenant puts into it. */
export interface SecretLimits {
  /** The one data key that is kept (`.dockerconfigjson`, `config.json`); the others are dropped. */
  dataKey: string;
  /** Decoded bytes above which the data key is dropped too (and `droppedDataBytes` set). */
  maxDataBytes: number;
}

/** Annotations kube-regcred reads or writes: kept as they are; every other one only as a digest. */
const OWN_ANNOTATION = /^(?:kube-regcred\.io\/|pull-secret-updater\.chainguard\.dev\/)/;

/**
 * Status annotations the controller writes and never reads (decide() trusts only the token's own
 * claims): not kept at all, 50,000 pairs of timestamps being a tenth of the cache.
 */
const WRITE_ONLY_ANNOTATIONS = new Set<string>([ANNOTATIONS.expiresAt, ANNOTATIONS.refreshedAt]);

/** Decoded size of a base64 value, without decoding it. */
function base64Bytes(value: string): number {
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  return Math.floor((value.length * 3) / 4) - padding;
}

export type SecretEventType = 'added' | 'updated' | 'deleted';
/** `previous`: what the cache held before an update (undefined for added and deleted). */
export type SecretEventHandler = (type: SecretEventType, secret: SecretObject, previous?: SecretObject) => void;

export interface SecretInformer {
  start(): Promise<void>;
  stop(): Promise<void>;
  get(namespace: string, name: string): SecretObject | undefined;
  list(): SecretObject[];
  /** True once every watched scope has completed its first list. */
  hasSynced(): boolean;
  on(handler: SecretEventHandler): void;
}

export interface SecretInformerOptions {
  api: KubeApi;
  /** Namespaces to watch; empty means cluster-wide. */
  namespaces: readonly string[];
  logger: Logger;
  random: Random;
  /** Called for each failure that stopped a watch (before its restart). */
  onError?: (error: RegcredError) => void;
  /** Restart backoff after a failure; defaults 1 s doubling up to 60 s (list-watch.ts). */
  restartBaseMs?: number;
  restartMaxMs?: number;
  /** Server-side field selector, e.g. `type=kubernetes.io/dockerconfigjson`. */
  fieldSelector: string;
  /**
   * Which Secrets the cache holds; default all. The others are never stored (only managedFields-free
   * copies of kept ones are). A cached Secret that stops matching (its opt-in annotation removed) is
   * reported as deleted: for the controller, it is gone.
   */
  keep?: (secret: V1Secret) => boolean;
  /** List items it rules out are not parsed (list-item-filter.ts): `keep` must be false for all of them. */
  itemFilter?: ItemFilter;
  /** Name for logs, e.g. `pull` or `push`. */
  kind?: string;
  /** Bounds what is kept per Secret (see SecretLimits); absent: whole copies (tests). */
  limits?: SecretLimits;
}

/** Shared by every Secret without kept data: the cache holds tens of thousands of these records. */
const NO_DATA: Readonly<Record<string, string>> = Object.freeze({});

/** The Secret types there are many of, as one string each rather than one copy per Secret. */
function sharedType(type: string | undefined): string | undefined {
  return type === DOCKER_CONFIG_JSON_TYPE ? DOCKER_CONFIG_JSON_TYPE : type === PUSH_SECRET_TYPE ? PUSH_SECRET_TYPE : type;
}

/**
 * A frozen copy; with `limits`, bounded (one data key, capped, compact when it is our own entry; foreign
 * annotations as a digest). `compact` reads the data key's document: the informer passes one that
 * remembers the documents it read last (createCompactConfigs()).
 */
export function toSecretObject(secret: V1Secret, limits?: SecretLimits, compact: (base64: string) => CompactDockerConfig | undefined = compactDockerConfig): SecretObject {
  const meta = secret.metadata ?? {};
  const type = sharedType(secret.type);
  const base = { namespace: share(meta.namespace ?? ''), name: share(meta.name ?? ''), uid: meta.uid, resourceVersion: meta.resourceVersion, type };
  const labels = meta.labels ?? {};
  if (limits === undefined) {
    const annotations = Object.freeze({ ...(meta.annotations ?? {}) });
    const data = Object.freeze({ ...(secret.data ?? {}) });
    return Object.freeze({ ...base, annotations, data, inputDigest: secretInputDigest({ type, labels, annotations }) });
  }
  const own: Record<string, string> = {};
  const foreign: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(meta.annotations ?? {})) {
    if (WRITE_ONLY_ANNOTATIONS.has(key)) continue;
    if (OWN_ANNOTATION.test(key)) own[key] = share(value);
    else foreign.push([key, value]);
  }
  const value = secret.data?.[limits.dataKey];
  const bytes = value === undefined ? 0 : base64Bytes(value);
  const oversized = value !== undefined && bytes > limits.maxDataBytes;
  const compactConfig = value === undefined || oversized ? undefined : compact(value);
  const data = value === undefined || oversized || compactConfig !== undefined ? NO_DATA : Object.freeze({ [limits.dataKey]: value });
  const droppedDataBytes = oversized ? bytes : undefined;
  const foreignAnnotationsDigest = foreign.length > 0 ? digestOf(foreign) : undefined;
  const annotations = shareMap(own);
  return Object.freeze({
    ...base,
    annotations,
    data,
    ...(compactConfig !== undefined ? { compactConfig } : {}),
    ...(droppedDataBytes !== undefined ? { droppedDataBytes } : {}),
    ...(foreignAnnotationsDigest !== undefined ? { foreignAnnotationsDigest } : {}),
    inputDigest: secretInputDigest({ type, labels, annotations, foreignAnnotationsDigest }),
  });
}

/** Whether two versions of a Secret hold the same Docker config, as far as the cache keeps it. */
export function sameDockerConfig(a: SecretObject, b: SecretObject): boolean {
  if (a.droppedDataBytes !== b.droppedDataBytes) return false;
  const [x, y] = [a.compactConfig, b.compactConfig];
  if (x !== undefined || y !== undefined) {
    return x !== undefined && y !== undefined && x.registry === y.registry && x.username === y.username && x.token.digest === y.token.digest;
  }
  const keys = Object.keys(a.data);
  return keys.length === Object.keys(b.data).length && keys.every((key) => a.data[key] === b.data[key]);
}

function digestOf(entries: Array<[string, string]>): string {
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(entries)).digest('base64url').slice(0, 22);
}

export function createSecretInformer(options: SecretInformerOptions): SecretInformer {
  const { logger } = options;
  const kind = options.kind ?? 'pull';
  const handlers: SecretEventHandler[] = [];
  const compact = createCompactConfigs();
  const transform = (raw: unknown): SecretObject | undefined => {
    const secret = raw as V1Secret;
    if (options.keep !== undefined && !options.keep(secret)) return undefined;
    return toSecretObject(secret, options.limits, compact);
  };

  const makeScope = (namespace: string | undefined): ListWatchCache<SecretObject> =>
    createListWatch<SecretObject>({
      api: options.api,
      path: coreCollectionPath('secrets', namespace),
      fieldSelector: options.fieldSelector,
      transform,
      itemFilter: options.itemFilter,
      secretsAsProtobuf: true,
      onEvent: (type, secret, previous) => {
        for (const handler of handlers) handler(type, secret, previous);
      },
      onListed: (secrets, first) => {
        if (first) logger.info({ namespace: namespace ?? '*', kind, secrets }, 'secret cache synced');
      },
      onError: options.onError,
      description: `${kind} Secrets in ${namespace === undefined ? 'all namespaces' : `namespace ${namespace}`}`,
      logger,
      random: options.random,
      restartBaseMs: options.restartBaseMs,
      restartMaxMs: options.restartMaxMs,
    });

  const scopes = new Map<string | undefined, ListWatchCache<SecretObject>>(
    options.namespaces.length === 0 ? [[undefined, makeScope(undefined)]] : options.namespaces.map((ns) => [ns, makeScope(ns)]),
  );
  const scopeFor = (namespace: string) => scopes.get(namespace) ?? scopes.get(undefined);

  return {
    async start() {
      await Promise.all([...scopes.values()].map((s) => s.start()));
    },
    async stop() {
      await Promise.all([...scopes.values()].map((s) => s.stop()));
    },
    get: (namespace, name) => scopeFor(namespace)?.get(objectKey(namespace, name)),
    list: () => [...scopes.values()].flatMap((s) => s.list()),
    hasSynced: () => [...scopes.values()].every((s) => s.hasSynced()),
    on(handler) {
      handlers.push(handler);
    },
  };
}

/**
 * Several informers seen as one (pull secrets and push secrets). A Secret's type is immutable, so a
 * key is only ever in one of them.
 */
export function combineSecretInformers(informers: readonly SecretInformer[]): SecretInformer {
  return {
    async start() {
      await Promise.all(informers.map((i) => i.start()));
    },
    async stop() {
      for (const informer of informers) await informer.stop();
    },
    get(namespace, name) {
      for (const informer of informers) {
        const secret = informer.get(namespace, name);
        if (secret) return secret;
      }
      return undefined;
    },
    list: () => informers.flatMap((i) => i.list()),
    hasSynced: () => informers.every((i) => i.hasSynced()),
    on(handler) {
      for (const informer of informers) informer.on(handler);
    },
  };
}
