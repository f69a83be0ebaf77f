// THE reconcile decision, pure: from a Secret as read, the time, and the exchange cache's token, what
// to do. Gathering happens before it, applying (exchange, write, Event, requeue) after it.
import { ANNOTATIONS, formatTokenFor, isManaged, parseAttachTo, parseTarget, type Target } from '../annotations.ts';
import { hasOwnRegistryEntry, hasRegistryEntry, parseDockerConfig, readRegistryToken, type DockerConfig } from '../dockerconfig.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import { evaluateAccess, type IdentityPolicy } from '../policy/identity-policy.ts';
import { evaluatePassthrough } from '../policy/passthrough-policy.ts';
import type { PassthroughSettings } from '../passthrough-target.ts';
import { readJwtTimes, type JwtTimes } from '../token/jwt-times.ts';
import { refreshAt, type RefreshSchedule } from '../token/refresh-time.ts';

export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';
/** Push secrets: never a type kubelet or ServiceAccounts consume. */
export const PUSH_SECRET_TYPE = 'Opaque';

/** The parts of a Secret the decision reads (built from the informer's object, never the object itself). */
export interface SecretView {
  namespace: string;
  name: string;
  type: string;
  annotations: Record<string, string>;
  /**
   * The Docker config document, decoded from base64: `.dockerconfigjson` of a pull secret, `config.json`
   * of a push secret; undefined when the key is absent.
   */
  dockerConfigJson: string | undefined;
  /** Why the Docker config cannot be read at all (too large, not UTF-8); decide() rejects with it. */
  dockerConfigRejected?: RegcredError;
  resourceVersion?: string;
  /** Labels of the Secret's namespace (Namespace informer); undefined when unknown. */
  namespaceLabels?: Readonly<Record<string, string>> | undefined;
}

export interface DecideSettings extends PassthroughSettings {
  defaultRegistry: string;
  registries: readonly string[];
  refresh: RefreshSchedule;
  /** The identity policy in force; undefined: no policy file (pull allowed everywhere, push nowhere). */
  policy?: IdentityPolicy | undefined;
}

/** Why the Secret needs a new token. `retargeted`: the token is for another identity or registry. */
export type RefreshReason = 'missing' | 'expiring' | 'expired' | 'unreadable' | 'retargeted';

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
  /**
   * A permanent input problem, reported on the Secret; nothing to do until it changes. `revoke` names
   * the registry whose kube-regcred entry must be removed (the identity policy no longer allows it).
   */
  | { kind: 'reject'; error: RegcredError; revoke?: string };

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
  if (!isManaged(secret.annotations) || !isCandidateType(secret)) return { kind: 'ignore' };

  let target: Target;
  let config: DockerConfig;
  try {
    target = parseTarget(secret.annotations, settings);
    if (target.access === 'pull' && secret.type === PUSH_SECRET_TYPE) {
      // Reached only with an access annotation (isCandidateType): a value other than push is a mistake.
      throw new RegcredError('AccessInvalid', `${ANNOTATIONS.access}: an ${PUSH_SECRET_TYPE} Secret is served only as a push secret (access: push)`);
    }
    if (target.access === 'push' && secret.type !== PUSH_SECRET_TYPE) {
      // Push rights in a type kubelet and ServiceAccounts consume would hand them to every Pod using it.
      throw new RegcredError('AccessInvalid', `a push secret must be of type ${PUSH_SECRET_TYPE} (key config.json), never ${secret.type}`);
    }
    const attachTo = parseAttachTo(secret.annotations[ANNOTATIONS.attachTo]);
    if (target.passthrough && target.access === 'push') {
      // A pass-through token carries whatever the registry grants that subject: never in a push secret.
      throw new RegcredError('AccessInvalid', 'a pass-through Secret is a pull secret; push secrets are always exchanged');
    }
    if (target.access === 'push' && attachTo.length > 0) {
      throw new RegcredError('AccessInvalid', `${ANNOTATIONS.attachTo}: a push secret is never attached to a ServiceAccount`);
    }
    if (secret.dockerConfigRejected) throw secret.dockerConfigRejected;
    config = parseDockerConfig(secret.dockerConfigJson);
  } catch (error) {
    return { kind: 'reject', error: toRegcredError(error) };
  }

  const access = target.passthrough
    ? evaluatePassthrough(settings.policy?.passthrough, {
        audience: target.passthrough.audience,
        namespace: secret.namespace,
        namespaceLabels: secret.namespaceLabels,
      })
    : evaluateAccess(settings.policy, {
        identity: target.identity,
        use: target.access,
        namespace: secret.namespace,
        namespaceLabels: secret.namespaceLabels,
      });
  const username = target.passthrough?.username;
  if (!access.allowed) {
    // No fresh tokens for a Secret that lost permission, and the one it holds is taken away.
    return hasOwnRegistryEntry(config, target.registry, username)
      ? { kind: 'reject', error: access.error, revoke: target.registry }
      : { kind: 'reject', error: access.error };
  }

  // token-for only ever forces a refresh: absent (Secrets written before it existed) changes nothing.
  const recordedFor = secret.annotations[ANNOTATIONS.tokenFor];
  const retargeted = recordedFor !== undefined && recordedFor !== formatTokenFor(target);
  const held = readRegistryToken(config, target.registry, username);
  let reason: RefreshReason;
  let currentExpiresAt: Date | undefined;
  if (held === undefined) {
    reason = hasRegistryEntry(config, target.registry) ? 'unreadable' : 'missing';
  } else if (retargeted) {
    reason = 'retargeted';
  } else {
    const times = tryReadJwtTimes(held);
    if (!times) {
      // An opaque token (an STS that answers with `expiry`): its expiry is known only to the exchange
      // cache, never read from our own annotations. Held and cached alike: wait; after a restart it is
      // exchanged once more, which is the price of not trusting expires-at.
      if (cached && cached.token === held && isFresh(cached, now, settings.refresh)) {
        return { kind: 'wait', until: refreshAt(held, cached, settings.refresh), target, expiresAt: cached.expiresAt };
      }
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

/**
 * Pull secrets are dockerconfigjson; push secrets Opaque with the access annotation. An Opaque Secret
 * with any access value is ours to judge, so a typo (`PUSH`) is reported rather than silently ignored.
 */
function isCandidateType(secret: SecretView): boolean {
  if (secret.type === DOCKER_CONFIG_JSON_TYPE) return true;
  return secret.type === PUSH_SECRET_TYPE && secret.annotations[ANNOTATIONS.access] !== undefined;
}

function isFresh(token: RegistryToken, now: Date, schedule: RefreshSchedule): boolean {
  return now.getTime() < refreshAt(token.token, token, schedule).getTime();
}

function tryReadJwtTimes(token: string): JwtTimes | undefined {
  try {
    return readJwtTimes(token);
  } catch {
    return undefined;
  }
}
