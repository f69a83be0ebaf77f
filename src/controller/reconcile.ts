// One reconcile of one Secret key, a thin shell around decide(): gather (informer cache → SecretView),
// decide (pure, parsing the Secret once), apply (token, write, Event, metrics) from what decide parsed,
// and turn failures into the plan planFailure() makes. Returns what the queue should do next; it never
// mutates informer objects (it builds new bodies from frozen copies).
import { ANNOTATIONS, formatStatus } from '../annotations.ts';
import type { Clock } from '../clock.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import type { RegistryToken } from '../exchange/exchanger.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SecretObject } from '../kube/secret-informer.ts';
import type { ServiceAccountAttacher } from '../kube/service-accounts.ts';
import type { SecretWriter } from '../kube/secret-writer.ts';
import type { Logger } from '../log.ts';
import { splitObjectKey } from '../object-key.ts';
import type { IdentityPolicy } from '../policy/identity-policy.ts';
import { tokenDigest } from '../token/held-token.ts';
import { refreshAt } from '../token/refresh-time.ts';
import { readJwtTimes } from '../token/jwt-times.ts';
import { createAttachStep } from './attach.ts';
import { lastUsefulInstant } from './retry-delay.ts';
import { decideSecret, type DecideSettings } from './decide.ts';
import { createFailureReport } from './failure-report.ts';
import type { FailureInput } from './failure-plan.ts';
import type { ControllerMetrics, ReconcileOutcome } from './metrics.ts';
import type { Outcome } from './outcome.ts';
import { createOwnWrites, type OwnWrites } from './own-writes.ts';
import { createRegistryTokens, type RegistryTokensDeps } from './registry-tokens.ts';
import type { SecretExpiries } from './secret-gauges.ts';
import { createSecretUpdates } from './secret-updates.ts';
import { toSecretView } from './secret-view.ts';

export interface ReconcilerDeps extends RegistryTokensDeps {
  getSecret: (namespace: string, name: string) => SecretObject | undefined;
  writer: SecretWriter;
  events: EventRecorder;
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
  /** Told the expiry of the token each Secret holds, as each reconcile reads it (the expiry gauge). */
  expiries?: SecretExpiries;
}

export interface Reconciler {
  reconcile(key: string): Promise<Outcome>;
  /** Token writes sent and not yet seen back (own-writes.ts); absent: every change is reconciled. */
  readonly ownWrites?: OwnWrites;
  /** The Secret is gone: drop what we remember about it. */
  forget(key: string): void;
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { clock, metrics } = deps;
  const currentSettings = (): DecideSettings => ({ ...deps.settings, policy: deps.policy?.() });
  const tokens = createRegistryTokens(deps);
  const ownWrites = createOwnWrites();
  const updates = createSecretUpdates({ ...deps, ownWrites });
  const report = createFailureReport({ events: deps.events, metrics, updates });
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

  /** Reports a failure (failure-report.ts) and returns what the queue does next. */
  async function fail(key: string, secret: SecretObject, log: Logger, startedMs: number, input: Omit<FailureInput, 'reported' | 'lastError'>): Promise<Outcome> {
    const { outcome, counted } = await report.fail(key, secret, log, input);
    observe(counted ? 'failed' : 'ignored', startedMs);
    return outcome;
  }

  async function reconcile(key: string): Promise<Outcome> {
    const startedMs = Date.now();
    const log = deps.logger.child({ secret: key });
    const { namespace, name } = splitObjectKey(key);
    const secret = deps.getSecret(namespace, name);
    if (!secret) {
      report.forget(key);
      deps.expiries?.record(key, undefined);
      observe('ignored', startedMs);
      return { kind: 'ignore' };
    }
    const secretRef = { namespace, name, uid: secret.uid };
    const view = toSecretView(secret, deps.namespaceLabels?.(namespace));
    const settings = currentSettings();
    const { action, reading } = decideSecret(view, clock.now(), (target) => tokens.peek(secretRef, target), settings);
    // Every replica reports the gauge, so this comes before the leader check.
    deps.expiries?.record(key, reading?.heldTimes?.expiresAt);
    if (!deps.isLeader()) {
      observe('ignored', startedMs);
      return { kind: 'ignore' };
    }
    switch (action.kind) {
      case 'ignore':
        report.forget(key);
        observe('ignored', startedMs);
        return { kind: 'ignore' };
      case 'reject':
        if (action.revoke !== undefined) {
          try {
            await updates.revoke(secret, reading!, action.revoke, log);
            deps.expiries?.record(key, undefined);
          } catch (err) {
            // Retried: a revocation must not be given up on while the Secret still holds our token.
            return fail(key, secret, log, startedMs, { error: toRegcredError(err) });
          }
        }
        return fail(key, secret, log, startedMs, { error: action.error });
      case 'wait': {
        if (await report.recover(key, secret)) {
          try {
            await updates.writeStatus(secret, formatStatus({ error: null }));
          } catch (err) {
            log.warn({ code: toRegcredError(err).code }, 'last-error annotation not cleared');
          }
        }
        log.debug({ until: action.until.toISOString() }, 'token still good');
        const attached = await attach.run(key, secret, reading!.attachTo, log);
        observe('waiting', startedMs);
        return { kind: 'ok', at: attach.nextLook(action.until, attached) };
      }
      case 'refresh': {
        const r = reading!;
        let token: RegistryToken;
        try {
          token = await tokens.get(secretRef, action.target);
        } catch (err) {
          const input = { error: toRegcredError(err), usefulUntil: action.currentExpiresAt, waitingFor: tokens.waitKey(secretRef, action.target) };
          return fail(key, secret, log, startedMs, input);
        }
        // Leadership can be lost while the exchange ran; a follower must not write.
        if (!deps.isLeader()) {
          observe('ignored', startedMs);
          return { kind: 'ignore' };
        }
        // The cache handed back the very token the Secret holds (it is due by its own claims, but the
        // cache counts its life from its arrival): writing it again would change nothing.
        // (A retargeted Secret is written anyway: its token-for annotation must catch up.)
        if (action.reason !== 'retargeted' && r.held?.digest === tokenDigest(token.token)) return dueOnArrival(token, log);
        const hadError = report.hasReported(key) || secret.annotations[ANNOTATIONS.lastError] !== undefined;
        try {
          await updates.writeToken(secret, r, token, hadError);
        } catch (err) {
          return fail(key, secret, log, startedMs, { error: toRegcredError(err), usefulUntil: action.currentExpiresAt });
        }
        deps.expiries?.record(key, jwtExpiry(token));
        if (hadError) await report.recover(key, secret);
        log.info({ reason: action.reason, registry: action.target.registry, expiresAt: token.expiresAt.toISOString() }, 'registry token written');
        const attached = await attach.run(key, secret, r.attachTo, log);
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

  return {
    reconcile,
    ownWrites,
    forget(key) {
      ownWrites.forget(key);
      report.forget(key);
      attach.forget(key);
      deps.expiries?.record(key, undefined);
    },
  };
}

/**
 * The JWT `exp` of each token the cache handed out, decoded once: one token object is written to every
 * Secret of its identity (thousands in a refresh round), and decoding it again for each was 1.5 % of a
 * cold start's CPU. Keyed by the object, so an entry goes when the cache drops the token.
 */
const expiries = new WeakMap<RegistryToken, Date | null>();

/** The gauge's expiry of a token the controller wrote: its JWT `exp`; none for an opaque token. */
function jwtExpiry(token: RegistryToken): Date | undefined {
  let expiry = expiries.get(token);
  if (expiry === undefined) {
    try {
      expiry = readJwtTimes(token.token).expiresAt;
    } catch {
      expiry = null;
    }
    expiries.set(token, expiry);
  }
  return expiry ?? undefined;
}
