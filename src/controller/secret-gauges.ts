// The Secret gauges, computed from the cache at scrape time so every replica reports them, leader or
// not: how many Secrets are managed, and how soon the earliest token among them expires. The expiry
// comes from the reconciler (SecretExpiries), which has parsed each Secret anyway: scrapes parse nothing.
import { isManaged } from '../annotations.ts';
import type { Clock } from '../clock.ts';
import type { SecretInformer } from '../kube/secret-informer.ts';
import { splitObjectKey } from '../object-key.ts';

export interface SecretExpiries {
  /** The JWT `exp` of the token the Secret at `key` holds now; undefined: none (or the Secret is gone). */
  record(key: string, expiresAt: Date | undefined): void;
}

export interface SecretGauges extends SecretExpiries {
  managedSecrets(): number;
  /** Seconds until the earliest expiry among managed Secrets; undefined when none holds a token. */
  earliestExpirySeconds(): number | undefined;
}

export function createSecretGauges(informer: SecretInformer, clock: Clock): SecretGauges {
  const expiries = new Map<string, number>();
  return {
    record(key, expiresAt) {
      if (expiresAt === undefined) expiries.delete(key);
      else expiries.set(key, expiresAt.getTime());
    },
    managedSecrets() {
      return informer.list().filter((s) => isManaged(s.annotations)).length;
    },
    earliestExpirySeconds() {
      let earliest: number | undefined;
      for (const [key, expiresAtMs] of expiries) {
        const { namespace, name } = splitObjectKey(key);
        // Opted out (or gone) since its last reconcile: no longer counted, whatever is still recorded.
        if (!isManaged(informer.get(namespace, name)?.annotations)) continue;
        if (earliest === undefined || expiresAtMs < earliest) earliest = expiresAtMs;
      }
      return earliest === undefined ? undefined : (earliest - clock.now().getTime()) / 1000;
    },
  };
}
