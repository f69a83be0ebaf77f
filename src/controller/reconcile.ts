// One reconcile of one Secret key: gather (informer cache → SecretView, exchange-cache peek), decide()
// (pure), apply (exchange through the token cache, write, Event, metrics). Returns what the queue should
// do next; it never mutates informer objects (it builds new bodies from frozen copies).
import { ANNOTATIONS, formatLastError, formatStatus, parseTarget, registryOfTokenFor, type Target } from '../annotations.ts';
import type { Clock } from '../clock.ts';
import { decodeDockerConfig, dockerConfigTooLarge, hasOwnRegistryEntry, parseDockerConfig, readRegistryToken, serializeDockerConfig, withoutRegistryEntry, withRegistryToken, type DockerConfig } from '../dockerconfig.ts';
import { RegcredError, toRegcredError, type ErrorCode } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import { tokenKeyOf, type TokenCache } from '../exchange/token-cache.ts';
import { EVENT_REASONS, type EventReason, type EventRecorder } from '../kube/events.ts';
import type { SecretObject } from '../kube/secret-informer.ts';
import type { ServiceAccountAttacher } from '../kube/service-accounts.ts';
import { CONFIG_JSON_KEY, DOCKER_CONFIG_JSON_KEY, type SecretWriter } from '../kube/secret-writer.ts';
import type { Logger } from '../log.ts';
import type { IdentityPolicy } from '../policy/identity-policy.ts';
import type { ServiceAccountTokenSource } from '../token/service-account-token.ts';
import type { WorkloadTokenSources } from '../token/workload-tokens.ts';
import { createAttachStep } from './attach.ts';
import type { PassthroughCredentials } from './passthrough-credentials.ts';
import { decide, PUSH_SECRET_TYPE, type DecideSettings, type SecretView } from './decide.ts';
import type { ControllerMetrics, ReconcileOutcome } from './metrics.ts';
import { lastUsefulInstant } from './backoff.ts';
import { refreshAt } from '../token/refresh-time.ts';

/** What the queue does with the key after a reconcile. */
export type Outcome =
  /** Not ours (any more), or not ours to act on (follower): no timer. */
  | { kind: 'ignore' }
  /** Healthy: look again at `at` (the token's refresh instant); resets the backoff. */
  | { kind: 'ok'; at: Date }
  /**
   * Transient failure: retry with backoff, never later than `usefulUntil` (the old token's exp).
   * `waitingFor`: the token key (token-cache.ts tokenKeyOf) whose exchange failed; the Secret is also
   * retried as soon as any exchange for that key succeeds.
   */
  | { kind: 'transient'; error: RegcredError; usefulUntil?: Date; waitingFor?: string }
  /** Permanent failure: wait for the Secret to change. */
  | { kind: 'permanent'; error: RegcredError }
  /** The write is outside the RBAC grant: wait for a change, or retry after a long delay. */
  | { kind: 'forbidden'; error: RegcredError };

export interface ReconcilerDeps {
  getSecret: (namespace: string, name: string) => SecretObject | undefined;
  writer: SecretWriter;
  events: EventRecorder;
  tokenCache: TokenCache;
  serviceAccountTokens: ServiceAccountTokenSource;
  /** Audience of the ServiceAccount token the exchanger accepts. */
  audience: string;
  /** Who exchanges: `system:serviceaccount:<ns>:<name>` (part of the token-cache key). */
  subject: string;
  /** Per-workload identity (kube-regcred.io/service-account); absent: the mode is off and such Secrets are refused. */
  workloadTokens?: WorkloadTokenSources;
  /** Bind per-workload subject tokens to the Secret being reconciled (TokenRequest boundObjectRef). */
  bindWorkloadTokens?: boolean;
  /** Pass-through Secrets (kube-regcred.io/exchange: passthrough); absent: such Secrets are refused. */
  passthrough?: PassthroughCredentials;
  settings: DecideSettings;
  /** The identity policy in force now (it reloads); absent or undefined: no policy file. */
  policy?: () => IdentityPolicy | undefined;
  /** Labels of a namespace from the Namespace informer; absent: no informer (no policy file). */
  namespaceLabels?: (namespace: string) => Readonly<Record<string, string>> | undefined;
  clock: Clock;
  logger: Logger;
  metrics: ControllerMetrics;
  /** attach-to: adds pull secrets to ServiceAccounts' imagePullSecrets; absent: the annotation is ignored. */
  attacher?: ServiceAccountAttacher;
  /** How soon a failed attach is tried again (the token itself may be good for much longer). Default 30 s. */
  attachRetryMs?: number;
  /** Only the leader exchanges and writes. */
  isLeader: () => boolean;
}

export interface Reconciler {
  reconcile(key: string): Promise<Outcome>;
  /** The Secret is gone: drop what we remember about it. */
  forget(key: string): void;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The data key holding the Docker config: `config.json` in an Opaque push secret, else `.dockerconfigjson`. */
export function configKeyOf(secret: { type?: string | undefined }): string {
  return secret.type === PUSH_SECRET_TYPE ? CONFIG_JSON_KEY : DOCKER_CONFIG_JSON_KEY;
}

export function toSecretView(secret: SecretObject, namespaceLabels?: Readonly<Record<string, string>>): SecretView {
  const raw = secret.data[configKeyOf(secret)];
  let dockerConfigJson: string | undefined;
  let rejected: RegcredError | undefined;
  if (secret.droppedDataBytes !== undefined) rejected = dockerConfigTooLarge(secret.droppedDataBytes);
  else if (raw !== undefined) {
    try {
      dockerConfigJson = decodeDockerConfig(raw);
    } catch (err) {
      rejected = toRegcredError(err);
    }
  }
  const view: SecretView = {
    namespace: secret.namespace,
    name: secret.name,
    type: secret.type ?? '',
    annotations: { ...secret.annotations },
    dockerConfigJson,
  };
  if (rejected !== undefined) view.dockerConfigRejected = rejected;
  if (secret.resourceVersion !== undefined) view.resourceVersion = secret.resourceVersion;
  if (namespaceLabels !== undefined) view.namespaceLabels = namespaceLabels;
  return view;
}

/** The Event reason for a failure, by the error's code. */
export function eventReasonFor(code: ErrorCode): EventReason {
  switch (code) {
    case 'IdentityInvalid':
    case 'RegistryInvalid':
    case 'RegistryNotConfigured':
    case 'DockerConfigInvalid':
    case 'DockerConfigTooLarge':
    case 'AccessInvalid':
    case 'ServiceAccountInvalid':
      return EVENT_REASONS.InvalidSecret;
    case 'NamespaceNotAllowed':
      return EVENT_REASONS.NotAllowed;
    case 'KubeForbidden':
      return EVENT_REASONS.WriteForbidden;
    case 'KubeConflict':
    case 'KubeNotFound':
    case 'KubeUnavailable':
    case 'KubeInvalid':
    case 'Internal':
      return EVENT_REASONS.WriteFailed;
    default:
      return EVENT_REASONS.ExchangeFailed;
  }
}

/** The code recorded in a last-error annotation value (`<Code>: message`), if it has one. */
function codeOfLastError(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /^([A-Za-z]+):/.exec(value);
  return match?.[1];
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { clock, metrics } = deps;
  const currentSettings = (): DecideSettings => ({ ...deps.settings, policy: deps.policy?.() });
  /**
   * The failure last reported per key (by Event), so Events mark transitions, never retries. Seeded
   * from the last-error annotation, so a restart does not repeat an Event already on the Secret.
   */
  const reported = new Map<string, string>();

  const attach = createAttachStep({
    ...(deps.attacher ? { attacher: deps.attacher } : {}),
    events: deps.events,
    metrics,
    clock,
    retryMs: deps.attachRetryMs ?? 30_000,
  });

  const observe = (outcome: ReconcileOutcome, startedMs: number) => {
    metrics.reconcileDuration.observe({ outcome }, (Date.now() - startedMs) / 1000);
  };

  async function reportFailure(key: string, secret: SecretObject, error: RegcredError, log: Logger): Promise<void> {
    metrics.errors.inc({ code: error.code });
    log.warn({ code: error.code, status: error.status, error: error.message }, 'reconcile failed');
    // A lost optimistic-concurrency race is routine: retried on the fresh object, never reported.
    if (error.code === 'KubeConflict') return;
    const value = formatLastError(error);
    const recorded = secret.annotations[ANNOTATIONS.lastError];
    if (!reported.has(key) && codeOfLastError(recorded) !== undefined) reported.set(key, codeOfLastError(recorded)!);
    if (reported.get(key) !== error.code) {
      reported.set(key, error.code);
      await deps.events.record(secret, { type: 'Warning', reason: eventReasonFor(error.code), message: value });
    }
    // A Secret we may not write cannot take a status patch either; the Event is all we can leave.
    if (error.code === 'KubeForbidden' || recorded === value) return;
    try {
      await deps.writer.writeStatus({ namespace: secret.namespace, name: secret.name, annotations: formatStatus({ error }) });
    } catch (err) {
      const statusError = toRegcredError(err);
      log.warn({ code: statusError.code }, 'last-error annotation not written');
    }
  }

  /** After success: Event if a failure had been reported, and whether last-error must be cleared. */
  async function reportRecovery(key: string, secret: SecretObject): Promise<boolean> {
    const recorded = secret.annotations[ANNOTATIONS.lastError];
    const previous = reported.get(key) ?? codeOfLastError(recorded);
    reported.delete(key);
    if (previous !== undefined) {
      await deps.events.record(secret, {
        type: 'Normal',
        reason: EVENT_REASONS.Recovered,
        message: `the Secret holds a valid registry token again (last error: ${previous})`,
      });
    }
    return recorded !== undefined;
  }

  /** Writes `config` over the Secret's Docker config, conditional on the resourceVersion it was read at. */
  async function writeConfig(secret: SecretObject, view: SecretView, config: DockerConfig, annotations: Readonly<Record<string, string | null>>): Promise<void> {
    if (view.resourceVersion === undefined) throw new RegcredError('KubeInvalid', 'Secret has no resourceVersion');
    await deps.writer.writeData({
      namespace: secret.namespace,
      name: secret.name,
      resourceVersion: view.resourceVersion,
      dockerConfigJson: serializeDockerConfig(config),
      key: configKeyOf(secret),
      annotations,
    });
  }

  async function writeToken(secret: SecretObject, view: SecretView, target: Target, token: RegistryToken, clearError: boolean): Promise<void> {
    // decide() parsed the same string already; this cannot throw for a Secret it sent here.
    let previous = parseDockerConfig(view.dockerConfigJson);
    // After a registry change, the token we wrote for the old registry is not left behind.
    const oldRegistry = registryOfTokenFor(view.annotations[ANNOTATIONS.tokenFor]);
    if (oldRegistry !== undefined && oldRegistry !== target.registry && hasOwnRegistryEntry(previous, oldRegistry)) {
      previous = withoutRegistryEntry(previous, oldRegistry);
    }
    const config = withRegistryToken(previous, target.registry, token.token, target.passthrough?.username);
    const annotations = formatStatus({ target, expiresAt: token.expiresAt, refreshedAt: clock.now(), ...(clearError ? { error: null } : {}) });
    await writeConfig(secret, view, config, annotations);
    metrics.secretRefreshes.inc();
  }

  /**
   * Removes kube-regcred's entry for `registry` (and the expires-at/token-for annotations). The token
   * itself stays valid at the registry until its exp: revocation stops its use from this Secret and
   * stops refreshes; it cannot recall copies already read.
   */
  async function revoke(secret: SecretObject, view: SecretView, registry: string, log: Logger): Promise<void> {
    const config = withoutRegistryEntry(parseDockerConfig(view.dockerConfigJson), registry);
    await writeConfig(secret, view, config, { [ANNOTATIONS.expiresAt]: null, [ANNOTATIONS.tokenFor]: null });
    metrics.revocations.inc();
    log.warn({ registry }, 'registry token removed: the identity policy no longer allows it');
    await deps.events.record(secret, {
      type: 'Warning',
      reason: EVENT_REASONS.TokenRevoked,
      message: `the registry token for ${registry} was removed: the identity policy no longer allows this Secret's identity here`,
    });
  }

  async function reconcile(key: string): Promise<Outcome> {
    const startedMs = Date.now();
    const log = deps.logger.child({ secret: key });
    const { namespace, name } = splitKey(key);
    const secret = deps.getSecret(namespace, name);
    if (!secret) {
      reported.delete(key);
      observe('ignored', startedMs);
      return { kind: 'ignore' };
    }
    if (!deps.isLeader()) {
      observe('ignored', startedMs);
      return { kind: 'ignore' };
    }
    const view = toSecretView(secret, deps.namespaceLabels?.(namespace));
    const now = clock.now();
    const settings = currentSettings();
    // decide() takes the exchange cache's token as input; finding it needs the target, parsed here the
    // same way decide() will (a failure is decide's to report, as a reject).
    let cached: RegistryToken | undefined;
    const peekTarget = tryTarget(view, settings);
    const secretRef = { namespace, name, uid: secret.uid };
    if (peekTarget?.passthrough) cached = deps.passthrough?.peek(secretRef, peekTarget);
    else if (peekTarget) cached = deps.tokenCache.peek(peekTarget.identity, peekTarget.registry, subjectOf(namespace, peekTarget));

    const action = decide(view, now, cached, settings);
    switch (action.kind) {
      case 'ignore':
        reported.delete(key);
        observe('ignored', startedMs);
        return { kind: 'ignore' };
      case 'reject':
        if (action.revoke !== undefined) {
          try {
            await revoke(secret, view, action.revoke, log);
          } catch (err) {
            // Retried: a revocation must not be given up on while the Secret still holds our token.
            return fail(key, secret, toRegcredError(err), log, startedMs, undefined);
          }
        }
        await reportFailure(key, secret, action.error, log);
        observe('failed', startedMs);
        return action.error.transient ? { kind: 'transient', error: action.error } : { kind: 'permanent', error: action.error };
      case 'wait': {
        if (await reportRecovery(key, secret)) {
          try {
            await deps.writer.writeStatus({ namespace, name, annotations: formatStatus({ error: null }) });
          } catch (err) {
            log.warn({ code: toRegcredError(err).code }, 'last-error annotation not cleared');
          }
        }
        log.debug({ until: action.until.toISOString() }, 'token still good');
        const attached = await attach.run(key, secret, log);
        observe('waiting', startedMs);
        return { kind: 'ok', at: attach.nextLook(action.until, attached) };
      }
      case 'write':
      case 'refresh': {
        let token: RegistryToken;
        const sa = action.target.serviceAccount;
        // Bound to this Secret: deleting it revokes the subject token for verifiers that ask the apiserver.
        const bound = deps.bindWorkloadTokens && secret.uid !== undefined ? { boundTo: { name, uid: secret.uid } } : {};
        const workload = sa === undefined ? undefined : { namespace, name: sa, ...bound };
        try {
          if (sa !== undefined && !deps.workloadTokens) {
            throw new RegcredError('ServiceAccountInvalid', `${ANNOTATIONS.serviceAccount} needs per-workload identity, which is off (--workload-identity)`);
          }
          if (action.target.passthrough && !deps.passthrough) throw new RegcredError('AccessInvalid', 'pass-through is not configured in this controller');
          token =
            action.kind === 'write'
              ? action.token
              : action.target.passthrough
                ? await deps.passthrough!.get(secretRef, action.target)
                : await deps.tokenCache.get({
                  identity: action.target.identity,
                  registry: action.target.registry,
                  subject: subjectOf(namespace, action.target),
                  access: action.target.access,
                  subjectToken: () => (workload ? deps.workloadTokens!.get(workload, deps.audience) : deps.serviceAccountTokens.get(deps.audience)),
                });
        } catch (err) {
          const error = toRegcredError(err);
          // The STS refused the ServiceAccount token: ask for a new one next time rather than reuse it.
          if (error.code === 'StsUnauthorized') {
            if (workload === undefined) deps.serviceAccountTokens.invalidate(deps.audience);
            else deps.workloadTokens?.invalidate(workload, deps.audience);
          }
          const waitingFor = action.target.passthrough
            ? deps.passthrough?.waitKey(secretRef, action.target)
            : tokenKeyOf({ identity: action.target.identity, registry: action.target.registry, subject: subjectOf(namespace, action.target) });
          return fail(key, secret, error, log, startedMs, action.currentExpiresAt, waitingFor);
        }
        // Leadership can be lost while the exchange ran; a follower must not write.
        if (!deps.isLeader()) {
          observe('ignored', startedMs);
          return { kind: 'ignore' };
        }
        // The cache handed back the very token the Secret holds (it is due by its own claims, but the
        // cache counts its life from its arrival): writing it again would change nothing.
        // (A retargeted Secret is written anyway: its token-for annotation must catch up.)
        if (action.reason !== 'retargeted' && holdsToken(view, action.target.registry, token.token)) return dueOnArrival(token, log);
        const hadError = reported.has(key) || secret.annotations[ANNOTATIONS.lastError] !== undefined;
        try {
          await writeToken(secret, view, action.target, token, hadError);
        } catch (err) {
          return fail(key, secret, toRegcredError(err), log, startedMs, action.currentExpiresAt);
        }
        if (hadError) await reportRecovery(key, secret);
        log.info({ reason: action.reason, registry: action.target.registry, expiresAt: token.expiresAt.toISOString() }, 'registry token written');
        const attached = await attach.run(key, secret, log);
        observe('written', startedMs);
        const due = refreshAt(token.token, token, settings.refresh);
        if (due.getTime() <= clock.now().getTime()) return dueOnArrival(token, log);
        return { kind: 'ok', at: attach.nextLook(due, attached) };
      }
    }
  }

  /**
   * A token already due when written (no iat/nbf and a life shorter than the refresh margin): "look
   * again at its refresh instant" would be now, forever. The Secret holds a good token, so nothing is
   * reported on it; the next exchange waits for the backoff (at most until shortly before exp).
   */
  function dueOnArrival(token: RegistryToken, log: Logger): Outcome {
    const error = new RegcredError('RegistryTokenInvalid', 'the registry token is due for refresh on arrival (no iat/nbf claim, lifetime under the refresh margin): next exchange after backoff');
    metrics.errors.inc({ code: error.code });
    log.warn({ code: error.code, expiresAt: token.expiresAt.toISOString() }, 'registry token due on arrival');
    return { kind: 'transient', error, usefulUntil: lastUsefulInstant(token.expiresAt) };
  }

  /** The token-cache subject: the workload's ServiceAccount, or the controller's own. */
  function subjectOf(namespace: string, target: Target): string {
    return target.serviceAccount === undefined ? deps.subject : `system:serviceaccount:${namespace}:${target.serviceAccount}`;
  }

  async function fail(
    key: string,
    secret: SecretObject,
    error: RegcredError,
    log: Logger,
    startedMs: number,
    usefulUntil: Date | undefined,
    waitingFor?: string,
  ): Promise<Outcome> {
    // Leadership was lost during the reconcile: nothing to report (a follower reports nothing), no timer.
    if (error.code === 'NotLeader') {
      log.info('leadership lost during the reconcile; nothing written');
      observe('ignored', startedMs);
      return { kind: 'ignore' };
    }
    await reportFailure(key, secret, error, log);
    observe('failed', startedMs);
    if (error.code === 'KubeForbidden' || error.code === 'TokenRequestForbidden') return { kind: 'forbidden', error };
    if (!error.transient) return { kind: 'permanent', error };
    return { kind: 'transient', error, ...(usefulUntil ? { usefulUntil: lastUsefulInstant(usefulUntil) } : {}), ...(waitingFor !== undefined ? { waitingFor } : {}) };
  }

  return {
    reconcile,
    forget(key) {
      reported.delete(key);
      attach.forget(key);
    },
  };
}

/** True when the Secret's Docker config already holds `token` for `registry`. */
function holdsToken(view: SecretView, registry: string, token: string): boolean {
  try {
    return readRegistryToken(parseDockerConfig(view.dockerConfigJson), registry) === token;
  } catch {
    return false;
  }
}

/** The target decide() will find, to peek into the exchange cache; undefined when decide() will reject. */
function tryTarget(view: SecretView, settings: DecideSettings): Target | undefined {
  try {
    return parseTarget(view.annotations, settings);
  } catch {
    return undefined;
  }
}
