// What counts as "the Secret changed" for the controller: a digest of its input, leaving out what the
// controller itself writes besides data, so its own status patches never re-run a reconcile. Computed
// once as the Secret enters the cache, so the cache can drop the labels (read by nothing else) and the
// controller needs no map of its own to compare against.
import { createHash } from 'node:crypto';
import { ANNOTATIONS } from '../annotations.ts';
import type { CompactDockerConfig } from './compact-docker-config.ts';

/** The status annotations the controller writes: changes to them alone must not trigger a reconcile. */
const STATUS_ANNOTATIONS = new Set<string>([ANNOTATIONS.expiresAt, ANNOTATIONS.refreshedAt, ANNOTATIONS.lastError, ANNOTATIONS.tokenFor]);

export interface SecretInput {
  type: string | undefined;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  data: Readonly<Record<string, string>>;
  compactConfig?: CompactDockerConfig | undefined;
  droppedDataBytes?: number | undefined;
  foreignAnnotationsDigest?: string | undefined;
}

const byKey = ([a]: [string, string], [b]: [string, string]) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A digest of the Secret minus what the controller itself writes besides data (status annotations).
 * Our own status patches do not change it, so they do not re-run the reconcile (which would defeat the
 * backoff); any user change to type, labels, annotations or data does ("wait for the Secret to change").
 * 16 bytes: one is kept per Secret.
 */
export function secretInputDigest(input: SecretInput): string {
  const annotations = Object.entries(input.annotations).filter(([key]) => !STATUS_ANNOTATIONS.has(key)).sort(byKey);
  const data = Object.entries(input.data).sort(byKey);
  const labels = Object.entries(input.labels).sort(byKey);
  const compact = input.compactConfig;
  const kept = [input.droppedDataBytes ?? null, input.foreignAnnotationsDigest ?? null, compact ? [compact.registry, compact.username, compact.token.digest] : null];
  return createHash('sha256').update(JSON.stringify([input.type ?? null, labels, annotations, data, kept])).digest().subarray(0, 16).toString('base64url');
}
