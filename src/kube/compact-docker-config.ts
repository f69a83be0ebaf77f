// What the Secret cache keeps of a Docker config in the common case, a document holding only the entry
// kube-regcred itself wrote: its registry, its username, and of the token a digest and its JWT times
// (token/held-token.ts). Everything decide() reads is there; the document (three copies of the token,
// twice base64-encoded) is not. Any other document is kept as it is (bounded by the 64 KiB cap).
import { decodeDockerConfig, MAX_SINGLE_ENTRY_CHARS, omittedEntry, readSingleEntry, type DockerConfig } from '../dockerconfig.ts';
import { heldToken, type HeldToken } from '../token/held-token.ts';
import { share } from './shared-strings.ts';

export interface CompactDockerConfig {
  readonly registry: string;
  readonly username: string;
  readonly token: HeldToken;
}

/** The compact form of a base64 data value, or undefined when it is anything but one entry (or unreadable). */
export function compactDockerConfig(base64: string): CompactDockerConfig | undefined {
  let text: string;
  try {
    text = decodeDockerConfig(base64);
  } catch {
    return undefined; // not UTF-8: kept as it is, and decide() reports it
  }
  const single = readSingleEntry(text);
  if (single === undefined) return undefined;
  return Object.freeze({ registry: share(single.registry), username: share(single.username), token: Object.freeze(heldToken(single.token)) });
}

/** base64 of the largest all-ASCII document readSingleEntry() accepts (the entries we write are ASCII). */
const MEMO_MAX_CHARS = Math.ceil(MAX_SINGLE_ENTRY_CHARS / 3) * 4;

/**
 * compactDockerConfig() with a memory of the last documents it read. Every Secret of one identity holds
 * the very same document (the same token, written by the same reconcile round), so at a cold start and
 * in each refresh round the 5,000 Secrets of an identity are decoded once, not 5,000 times (base64,
 * JSON, the token's digest and JWT times: about 25 µs each), and share one frozen record in the cache.
 * Least recently used first out; values larger than one entry of ours can be are not remembered, so
 * the memory holds at most `capacity` × 22 KiB.
 */
export function createCompactConfigs(capacity = 64): (base64: string) => CompactDockerConfig | undefined {
  const seen = new Map<string, CompactDockerConfig | null>();
  return (base64) => {
    if (base64.length > MEMO_MAX_CHARS) return compactDockerConfig(base64);
    const known = seen.get(base64);
    if (known !== undefined) {
      seen.delete(base64);
      seen.set(base64, known);
      return known ?? undefined;
    }
    const compact = compactDockerConfig(base64);
    seen.set(base64, compact ?? null);
    if (seen.size > capacity) seen.delete(seen.keys().next().value!);
    return compact;
  };
}

/** The document as decide() and the writes see it: the entry is there, its credential omitted. */
export function expandCompactConfig(compact: CompactDockerConfig): DockerConfig {
  return { auths: { [compact.registry]: omittedEntry(compact.username) } };
}
