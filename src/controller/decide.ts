// THE reconcile decision, pure: from a Secret as read, the time, and the exchange cache's token, what
// to do. Gathering happens before it, applying (exchange, write, Event, requeue) after it.
import { isManaged, parseTarget, type Target } from '../annotations.ts';
import { hasRegistryEntry, parseDockerConfig, readRegistryToken, type DockerConfig } from '../dockerconfig.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import { readJwtTimes, type JwtTimes } from '../token/jwt-times.ts';
import { refreshAt, type RefreshPolicy } from './refresh-time.ts';

export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';

/** The parts of a Secret the decision reads (built from the informer's object, never the object itself). */
export interface SecretView {
  namespace: string;
  name: string;
  type: string;
  annotations: Record<string, string>;
  /** `.dockerconfigjson`, decoded from base64; undefined when the key is absent. */
  dockerConfigJson: string | undefined;
  resourceVersion?: string;
}

export interface DecideSettings {
  defaultRegistry: string;
  registries: readonly string[];
  refresh: RefreshPolicy;
}

/** Why the Secret needs a new token. */
export type RefreshReason = 'missing' | 'expiring' | 'expired' | 'unreadable';

export type Action =
  | { kind: 'ignore' }
  /** The Secret holds a good token: look again at `until` (its refresh instant). */
  | { kind: 'wait'; until: Date; target: Target; expiresAt: Date }
  /** The cache holds a token fresher than the Secret's: write it, no exchange needed. */
  | { kind: 'write'; target: Target; token: RegistryToken; reason: RefreshReason; currentExpiresAt?: Date }
  /**
   * An exchange is needed. `currentExpiresAt` is the Secret's token's `exp` when it has a readable one:
   * transient failures must retry before it (see backoff.ts capDelay).
   */
  | { kind: 'refresh'; target: Target; reason: RefreshReason; currentExpiresAt?: Date }
  /** A permanent input problem, reported on the Secret; nothing to do until it changes. */
  | { kind: 'reject'; error: RegcredError };

/**
 * Decides from the token in `.dockerconfigjson` alone: its real `exp` says whether it is still good.
 * The status annotations (expires-at, refreshed-at, last-error) are never read: they are informational
 * and anyone with patch rights could set them. This is also what makes restarts safe: a Secret with a
 * good token yields `wait`, never a rewrite.
 *
 * `cached` is the exchange cache's current token for the Secret's (identity, registry), if any (the
 * wiring gets it from TokenCache.peek). It is written only when it differs from the Secret's token and
 * is itself not yet due: the same token is due at the same instant in both places (refreshAt is
 * deterministic), so a due Secret can never be "fixed" by writing back the token it already has.
 */
export function decide(secret: SecretView, now: Date, cached: RegistryToken | undefined, settings: DecideSettings): Action {
  if (secret.type !== DOCKER_CONFIG_JSON_TYPE || !isManaged(secret.annotations)) return { kind: 'ignore' };

  let target: Target;
  let config: DockerConfig;
  try {
    target = parseTarget(secret.annotations, settings);
    config = parseDockerConfig(secret.dockerConfigJson);
  } catch (error) {
    return { kind: 'reject', error: toRegcredError(error) };
  }

  const held = readRegistryToken(config, target.registry);
  let reason: RefreshReason;
  let currentExpiresAt: Date | undefined;
  if (held === undefined) {
    reason = hasRegistryEntry(config, target.registry) ? 'unreadable' : 'missing';
  } else {
    const times = tryReadJwtTimes(held);
    if (!times) {
      reason = 'unreadable';
    } else {
      const due = refreshAt(held, times, settings.refresh);
      if (now.getTime() < due.getTime()) return { kind: 'wait', until: due, target, expiresAt: times.expiresAt };
      currentExpiresAt = times.expiresAt;
      reason = now.getTime() >= times.expiresAt.getTime() ? 'expired' : 'expiring';
    }
  }

  const expiry = currentExpiresAt ? { currentExpiresAt } : {};
  if (cached && cached.token !== held && isFresh(cached, now, settings.refresh)) {
    return { kind: 'write', target, token: cached, reason, ...expiry };
  }
  return { kind: 'refresh', target, reason, ...expiry };
}

function isFresh(token: RegistryToken, now: Date, policy: RefreshPolicy): boolean {
  return now.getTime() < refreshAt(token.token, token, policy).getTime();
}

function tryReadJwtTimes(token: string): JwtTimes | undefined {
  try {
    return readJwtTimes(token);
  } catch {
    return undefined;
  }
}
