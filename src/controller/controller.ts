// Wires the Secret informer to the work queue and the reconciler: filter (isManaged) → key → queue →
// reconcile → requeue at the instant the outcome names. Readiness: informer synced and, with leader
// election, the leader known.
import { ANNOTATIONS, isManaged, parseAttachTo } from '../annotations.ts';
import type { Random, TimerClock } from '../clock.ts';
import type { NamespaceInformer } from '../kube/namespace-informer.ts';
import { sameDockerConfig, type SecretInformer, type SecretObject } from '../kube/secret-informer.ts';
import type { Logger } from '../log.ts';
import { objectKey } from '../object-key.ts';
import type { RetrySchedule } from '../backoff.ts';
import { retryDelayMs } from './retry-delay.ts';
import { createWorkQueue, type WorkQueue } from './queue.ts';
import { createTokenWaiters } from './token-waiters.ts';
import type { Outcome } from './outcome.ts';
import type { Reconciler } from './reconcile.ts';

export interface ControllerDeps {
  informer: SecretInformer;
  reconciler: Reconciler;
  concurrency: number;
  backoff: RetrySchedule;
  /** Retry delay for a Secret outside the RBAC write grant, unless it changes first. */
  forbiddenRetryMs: number;
  clock: TimerClock;
  random: Random;
  logger: Logger;
  /** With leader election: whether the leader is known yet (readiness). */
  leaderKnown?: () => boolean;
  /** Namespace labels for the identity policy: a label change re-evaluates that namespace's Secrets. */
  namespaceInformer?: NamespaceInformer;
}

export interface Controller {
  start(): Promise<void>;
  /** Stops timers and waits for running reconciles; the informer stops last. */
  stop(): Promise<void>;
  /** Enqueue every managed Secret now (e.g. on becoming leader, or after a policy reload). */
  resync(): void;
  /** Enqueue the managed Secrets of one namespace (its labels changed). */
  resyncNamespace(namespace: string): void;
  /** An exchange stored a token for `tokenKey`: Secrets whose exchange for it failed are reconciled now. */
  tokenArrived(tokenKey: string): void;
  /** A ServiceAccount changed: Secrets that attach to it but are no longer listed are reconciled now. */
  serviceAccountChanged(serviceAccount: { namespace: string; name: string; pullSecrets: readonly string[] }): void;
  readiness(): { ready: boolean; reason?: string };
  /** For tests and shutdown: resolves when no reconcile runs or waits. */
  idle(): Promise<void>;
  readonly queue: WorkQueue;
}

/** The ServiceAccounts a Secret's attach-to names; none when it names none or the list is invalid. */
function attachTargets(secret: SecretObject): string[] {
  try {
    return parseAttachTo(secret.annotations[ANNOTATIONS.attachTo]);
  } catch {
    return [];
  }
}

export function createController(deps: ControllerDeps): Controller {
  const { informer, reconciler, clock, random, logger } = deps;
  const waiters = createTokenWaiters();

  const schedule = (key: string, outcome: Outcome) => {
    const now = clock.now();
    if (outcome.kind === 'transient' && outcome.waitingFor !== undefined) waiters.wait(key, outcome.waitingFor);
    else waiters.forget(key);
    switch (outcome.kind) {
      case 'ignore':
        queue.forget(key);
        return;
      case 'ok':
        queue.recordSuccess(key);
        queue.addAt(key, outcome.at);
        return;
      case 'transient': {
        const attempt = queue.recordFailure(key);
        const delayMs = retryDelayMs({
          attempt,
          schedule: deps.backoff,
          random,
          now,
          ...(outcome.usefulUntil ? { usefulUntil: outcome.usefulUntil } : {}),
          ...(outcome.error.retryAfterMs !== undefined ? { retryAfterMs: outcome.error.retryAfterMs } : {}),
        });
        queue.addAt(key, new Date(now.getTime() + delayMs));
        return;
      }
      case 'forbidden':
        queue.recordFailure(key);
        queue.addAt(key, new Date(now.getTime() + deps.forbiddenRetryMs));
        return;
      case 'permanent':
        // Nothing to retry: the informer enqueues the key when the Secret's input changes.
        queue.recordFailure(key);
        return;
    }
  };

  const queue: WorkQueue = createWorkQueue({
    concurrency: deps.concurrency,
    clock,
    logger,
    process: async (key) => schedule(key, await reconciler.reconcile(key)),
  });

  // The cache's previous version tells "changed" (its input digest) and "was managed"; nothing per
  // Secret is kept here.
  informer.on((type, secret, previous) => {
    const key = objectKey(secret);
    if (type === 'deleted') {
      waiters.forget(key);
      queue.forget(key);
      reconciler.forget(key);
      return;
    }
    const wasManaged = previous !== undefined && isManaged(previous.annotations);
    if (!isManaged(secret.annotations)) {
      // Opted out: one last pass lets the reconciler drop its state; no timer follows.
      if (wasManaged) queue.add(key);
      return;
    }
    if (wasManaged && previous.inputDigest === secret.inputDigest) {
      if (sameDockerConfig(previous, secret)) return;
      // Our own write coming back: the reconcile that sent it has already set the next look.
      if (reconciler.ownWrites?.arrived(key, secret.compactConfig)) return;
    }
    queue.add(key);
  });

  const namespaces = deps.namespaceInformer;
  const resyncNamespace = (namespace: string) => {
    for (const secret of informer.list()) {
      if (secret.namespace === namespace && isManaged(secret.annotations)) queue.add(objectKey(secret));
    }
  };
  namespaces?.onChange(resyncNamespace);

  return {
    queue,
    async start() {
      // Labels first: a Secret judged before its namespace is known would be refused needlessly.
      await namespaces?.start();
      await informer.start();
    },
    async stop() {
      await queue.shutdown();
      await informer.stop();
      await namespaces?.stop();
    },
    resync() {
      for (const secret of informer.list()) {
        if (isManaged(secret.annotations)) queue.add(objectKey(secret));
      }
    },
    resyncNamespace,
    tokenArrived(tokenKey) {
      const keys = waiters.release(tokenKey);
      if (keys.length > 0) logger.info({ secrets: keys.length }, 'token arrived: reconciling the Secrets waiting for it');
      // add() replaces each key's backoff timer; the attempt count stays until the reconcile succeeds.
      for (const key of keys) queue.add(key);
    },
    serviceAccountChanged(sa) {
      for (const secret of informer.list()) {
        if (secret.namespace !== sa.namespace || sa.pullSecrets.includes(secret.name) || !isManaged(secret.annotations)) continue;
        if (attachTargets(secret).includes(sa.name)) queue.add(objectKey(secret));
      }
    },
    readiness() {
      if (namespaces && !namespaces.hasSynced()) return { ready: false, reason: 'namespace cache not synced' };
      if (!informer.hasSynced()) return { ready: false, reason: 'secret cache not synced' };
      if (deps.leaderKnown && !deps.leaderKnown()) return { ready: false, reason: 'leader not known yet' };
      return { ready: true };
    },
    idle: () => queue.onIdle(),
  };
}
