// THE reconcile decision, pure: from a Secret as read, the time, and the exchange cache's token, what
// to do. Gathering happens before it, applying (exchange, write, Event, requeue) after it.
import { ANNOTATIONS, formatTokenFor, isManaged, parseAttachTo, parseTarget, type Target } from '../annotations.ts';
import { DOCKER_CONFIG_JSON_TYPE, hasOwnRegistryEntry, hasRegistryEntry, parseDockerConfig, PUSH_SECRET_TYPE, readRegistryToken, TOKEN_USERNAME, type DockerConfig } from '../dockerconfig.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import { evaluateAccess, type IdentityPolicy } from '../policy/identity-policy.ts';
import { evaluatePassthrough } from '../policy/passthrough-policy.ts';
import type { PassthroughSettings } from '../passthrough-target.ts';
import { expandCompactConfig, type CompactDockerConfig } from '../kube/compact-docker-config.ts';
import { heldTimes, heldToken, tokenDigest, type HeldToken } from '../token/held-token.ts';
import type { JwtTimes } from '../token/jwt-times.ts';
import { refreshAt, refreshAtDigest, type RefreshSchedule } from '../token/refresh-time.ts';

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
  /** Instead of dockerConfigJson: the document in the compact form the Secret cache keeps of our own entry. */
  compactConfig?: CompactDockerConfig;
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
  /**
   * A new token is needed: the exchange cache's when it holds one not yet due (TokenCache.get returns
   * it without an exchange), else a new exchange's. `currentExpiresAt` is the Secret's token's `exp`
   * when it has a readable one: transient failures must retry before it (see retry-delay.ts capDelay).
   */
  | { kind: 'refresh'; target: Target; reason: RefreshReason; currentExpiresAt?: Date }
  /**
   * A permanent input problem, reported on the Secret; nothing to do until it changes. `revoke` names
   * the registry whose kube-regcred entry must be removed (the identity policy no longer allows it).
   */
  | { kind: 'reject'; error: RegcredError; revoke?: string };

/** What decide() parsed from the Secret: the shell writes, revokes and attaches from it, never parsing again. */
export interface SecretReading {
  target: Target;
  /** With a compact config, its entry is an omitted one (dockerconfig.ts): writes that keep it read the document first. */
  config: DockerConfig;
  /** The ServiceAccounts named by attach-to. */
  attachTo: string[];
  /** The token of kube-regcred's entry for the target registry, if there is one (as a digest and its times). */
  held: HeldToken | undefined;
  /** Its JWT validity; undefined for no token or an opaque one. */
  heldTimes: JwtTimes | undefined;
}

export interface Decision {
  action: Action;
  /** Undefined when the Secret is not ours or could not be parsed. */
  reading?: SecretReading;
}

/** The exchange cache's current token for a target (TokenCache.peek: a read, never an exchange). */
export type CachedToken = (target: Target) => RegistryToken | undefined;

/** decide() as the tests and one-shot callers use it: `cached` is the cache's token for the Secret's target. */
export function decide(secret: SecretView, now: Date, cached: RegistryToken | undefined, settings: DecideSettings): Action {
  return decideSecret(secret, now, () => cached, settings).action;
}

/**
 * Decides from the token in `.dockerconfigjson` alone: its real `exp` says whether it is still good.
 * The status annotations (expires-at, refreshed-at, last-error) are never read: they are informational
 * and anyone with patch rights could set them. This is also what makes restarts safe: a Secret with a
 * good token yields `wait`, never a rewrite.
 *
 * `cached` looks up the exchange cache's token for the target decide() parsed. It only matters for an
 * opaque token (no JWT times), whose freshness only the cache knows.
 */
export function decideSecret(secret: SecretView, now: Date, cached: CachedToken, settings: DecideSettings): Decision {
  if (!isManaged(secret.annotations) || !isCandidateType(secret)) return { action: { kind: 'ignore' } };
  let reading: SecretReading;
  try {
    reading = readSecret(secret, settings);
  } catch (error) {
    return { action: { kind: 'reject', error: toRegcredError(error) } };
  }
  return { action: judge(secret, reading, now, cached, settings), reading };
}

/** Parses and validates what decide() needs; throws the input problem it finds first. */
function readSecret(secret: SecretView, settings: DecideSettings): SecretReading {
  const target = parseTarget(secret.annotations, settings);
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
  const username = target.passthrough?.username ?? TOKEN_USERNAME;
  let config: DockerConfig;
  let held: HeldToken | undefined;
  const compact = secret.compactConfig;
  if (compact !== undefined) {
    config = expandCompactConfig(compact);
    held = compact.registry === target.registry && compact.username === username ? compact.token : undefined;
  } else {
    config = parseDockerConfig(secret.dockerConfigJson);
    const token = readRegistryToken(config, target.registry, username);
    held = token === undefined ? undefined : heldToken(token);
  }
  return { target, config, attachTo, held, heldTimes: held === undefined ? undefined : heldTimes(held) };
}

function judge(secret: SecretView, reading: SecretReading, now: Date, cached: CachedToken, settings: DecideSettings): Action {
  const { target, config, held } = reading;
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
  if (!access.allowed) {
    // No fresh tokens for a Secret that lost permission, and the one it holds is taken away.
    return hasOwnRegistryEntry(config, target.registry, target.passthrough?.username)
      ? { kind: 'reject', error: access.error, revoke: target.registry }
      : { kind: 'reject', error: access.error };
  }

  // token-for only ever forces a refresh: absent (Secrets written before it existed) changes nothing.
  const recordedFor = secret.annotations[ANNOTATIONS.tokenFor];
  const retargeted = recordedFor !== undefined && recordedFor !== formatTokenFor(target);
  if (held === undefined) return { kind: 'refresh', target, reason: hasRegistryEntry(config, target.registry) ? 'unreadable' : 'missing' };
  if (retargeted) return { kind: 'refresh', target, reason: 'retargeted' };
  const times = reading.heldTimes;
  if (!times) {
    // An opaque token (an STS that answers with `expiry`): its expiry is known only to the exchange
    // cache, never read from our own annotations. Held and cached alike: wait; after a restart it is
    // exchanged once more, which is the price of not trusting expires-at.
    const token = cached(target);
    if (token && tokenDigest(token.token) === held.digest && isFresh(token, now, settings.refresh)) {
      return { kind: 'wait', until: refreshAtDigest(held.digest, token, settings.refresh), target, expiresAt: token.expiresAt };
    }
    return { kind: 'refresh', target, reason: 'unreadable' };
  }
  const due = refreshAtDigest(held.digest, times, settings.refresh);
  if (now.getTime() < due.getTime()) return { kind: 'wait', until: due, target, expiresAt: times.expiresAt };
  return { kind: 'refresh', target, reason: now.getTime() >= times.expiresAt.getTime() ? 'expired' : 'expiring', currentExpiresAt: times.expiresAt };
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
