// What the Secret cache keeps of a Docker config in the common case, a document holding only the entry
// kube-regcred itself wrote: its registry, its username, and of the token a digest and its JWT times
// (token/held-token.ts). Everything decide() reads is there; the document (three copies of the token,
// twice base64-encoded) is not. Any other document is kept as it is (bounded by the 64 KiB cap).
import { decodeDockerConfig, omittedEntry, readSingleEntry, type DockerConfig } from '../dockerconfig.ts';
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

/** The document as decide() and the writes see it: the entry is there, its credential omitted. */
export function expandCompactConfig(compact: CompactDockerConfig): DockerConfig {
  return { auths: { [compact.registry]: omittedEntry(compact.username) } };
}
