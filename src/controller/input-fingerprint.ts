// What counts as "the Secret changed" for the controller: a digest of its input, leaving out what the
// controller itself writes besides data, so its own status patches never re-run a reconcile.
import { createHash } from 'node:crypto';
import { ANNOTATIONS } from '../annotations.ts';
import type { SecretObject } from '../kube/secret-informer.ts';

/** The status annotations the controller writes: changes to them alone must not trigger a reconcile. */
const STATUS_ANNOTATIONS = new Set<string>([ANNOTATIONS.expiresAt, ANNOTATIONS.refreshedAt, ANNOTATIONS.lastError, ANNOTATIONS.tokenFor]);

/**
 * A digest of the Secret minus what the controller itself writes besides data (status annotations).
 * Our own status patches do not change it, so they do not re-run the reconcile (which would defeat the
 * backoff); any user change to type, labels, annotations or data does ("wait for the Secret to change").
 */
export function inputFingerprint(secret: SecretObject): string {
  const annotations = Object.entries(secret.annotations)
    .filter(([key]) => !STATUS_ANNOTATIONS.has(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const data = Object.entries(secret.data).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const labels = Object.entries(secret.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const dropped = [secret.droppedDataBytes ?? null, secret.foreignAnnotationsDigest ?? null];
  return createHash('sha256').update(JSON.stringify([secret.type, labels, annotations, data, dropped])).digest('hex');
}
