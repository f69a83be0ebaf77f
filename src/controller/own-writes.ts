// Data writes this process has sent whose watch event has not arrived yet. The event of our own write
// changes only the token (and status annotations), and the reconcile that wrote it has already set the
// next look: reconciling it again would decide "wait" at the same instant. At 50,000 Secrets that second
// reconcile was 50,000 wasted ones per refresh round. An entry lives from just before the PATCH until its
// event, so the map holds about as many keys as there are writes in flight, not one per Secret.
import type { CompactDockerConfig } from '../kube/compact-docker-config.ts';

export interface OwnWrites {
  /** Before a data write: the Secret at `key` is about to hold only our entry with this token. */
  sending(key: string, tokenDigest: string): void;
  /** The cache's new version of `key`: true (and forgotten) when it holds just the token we sent. */
  arrived(key: string, compact: CompactDockerConfig | undefined): boolean;
  forget(key: string): void;
}

export function createOwnWrites(): OwnWrites {
  const sent = new Map<string, string>();
  return {
    sending(key, tokenDigest) {
      sent.set(key, tokenDigest);
    },
    arrived(key, compact) {
      const digest = sent.get(key);
      if (digest === undefined) return false;
      sent.delete(key);
      return compact !== undefined && compact.token.digest === digest;
    },
    forget(key) {
      sent.delete(key);
    },
  };
}
