// Lease-based leader election on coordination.k8s.io/v1, built like client-go's leaderelection: a
// candidate takes the Lease when its holder has not renewed it for leaseDuration (measured on OUR clock
// from when we last saw it change, so clock skew between replicas does not matter), the leader renews
// every retryPeriod, and a clean shutdown releases the Lease so a follower takes over at once.
// MicroTime fields travel as strings and are kept so.
//
// Safety rests on one rule, checked on this replica's own clock and without the apiserver: a leader
// counts as leading only until renewDeadline after it SENT its last successful renewal (the server
// wrote it later, and a follower saw it later still, so the follower's leaseDuration ends after our
// renewDeadline). isLeader() applies the rule on every call and a timer steps down at the deadline,
// so a replica cut off from the apiserver stops acting before anyone else may start.
import type { V1Lease } from '@kubernetes/client-node';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { KubeApi } from './api-client.ts';
import { classifyKubeError } from './errors.ts';
import { timeoutOptions, typedApis } from './typed-apis.ts';

export interface LeaderElectorOptions {
  api: KubeApi;
  /** Namespace of the Lease: the controller's own. */
  namespace: string;
  name: string;
  /** This replica's identity (Pod name plus a random suffix): unique among candidates. */
  identity: string;
  /** How long a Lease stays valid without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up when it could not renew for this long; must be < leaseDurationMs. Default 10 s. */
  renewDeadlineMs?: number;
  /** Pause between attempts to acquire or renew. Default 2 s. */
  retryPeriodMs?: number;
  /** Its `setTimer` (a TimerClock's), when it has one, runs the retry and deadline timers; else setTimeout. */
  clock: Clock & { setTimer?(callback: () => void, delayMs: number): { cancel(): void } };
  logger: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export interface LeaderElector {
  start(): void;
  /** Stops campaigning; a leader releases the Lease (best effort) before resolving. */
  stop(): Promise<void>;
  isLeader(): boolean;
  /** The current holder as last observed, if any. */
  leader(): string | undefined;
  /** True once the Lease has been read at least once (readiness: "the process knows who leads"). */
  leaderKnown(): boolean;
}

/** RFC 3339 with exactly six fractional digits: what metav1.MicroTime parses. */
export function formatMicroTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  const { api, namespace, name, identity, clock, logger } = options;
  const { coordination } = typedApis(api);
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const leaseDurationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  // A hung request must not hold the loop past the deadline (the client's own limit is 30 s).
  const requestTimeoutMs = Math.max(1_000, Math.min(renewDeadlineMs, retryPeriodMs * 2));
  const bounded = timeoutOptions(requestTimeoutMs);

  let running = false;
  let leading = false;
  let known = false;
  let holder: string | undefined;
  let observedRecord: string | undefined;
  let observedAtMs = 0;
  /** When the last successful acquire/renew request was sent (our clock). */
  let lastRenewMs = 0;
  let timer: { cancel(): void } | undefined;
  let deadlineTimer: { cancel(): void } | undefined;
  const setTimer = (callback: () => void, delayMs: number, keepAlive: boolean): { cancel(): void } => {
    if (clock.setTimer) return clock.setTimer(callback, delayMs);
    const timeout = setTimeout(callback, delayMs);
    if (!keepAlive) timeout.unref();
    return { cancel: () => clearTimeout(timeout) };
  };
  let inFlight: Promise<void> | undefined;

  const nowMs = () => clock.now().getTime();

  /** True while the last renewal is recent enough to prove leadership (the rule above). */
  const withinDeadline = () => nowMs() < lastRenewMs + renewDeadlineMs;

  /** A renewal sent at `sentMs` succeeded: lead until renewDeadline after it, unless renewed again. */
  const renewed = (sentMs: number) => {
    lastRenewMs = sentMs;
    deadlineTimer?.cancel();
    const remainingMs = lastRenewMs + renewDeadlineMs - nowMs();
    if (remainingMs <= 0) return setLeading(false);
    deadlineTimer = setTimer(() => {
      if (leading && !withinDeadline()) {
        logger.warn({ lease: `${namespace}/${name}`, renewDeadlineMs }, 'lease not renewed within the renew deadline');
        setLeading(false);
      }
    }, remainingMs + 1, false);
    setLeading(true);
  };

  const setLeading = (value: boolean) => {
    if (value === leading) return;
    leading = value;
    logger.info({ lease: `${namespace}/${name}`, identity }, value ? 'started leading' : 'stopped leading');
    if (value) options.onStartedLeading();
    else options.onStoppedLeading();
  };

  const observe = (lease: V1Lease) => {
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}|${lease.metadata?.resourceVersion ?? ''}`;
    if (record !== observedRecord) {
      observedRecord = record;
      observedAtMs = nowMs();
    }
    const newHolder = spec.holderIdentity || undefined;
    if (newHolder !== holder) logger.info({ lease: `${namespace}/${name}`, leader: newHolder ?? null }, 'leader observed');
    holder = newHolder;
    known = true;
  };

  const desiredSpec = (previous: V1Lease | undefined) => {
    const spec = previous?.spec ?? {};
    const now = formatMicroTime(clock.now());
    const takingOver = spec.holderIdentity !== identity;
    return {
      holderIdentity: identity,
      leaseDurationSeconds,
      // MicroTime is typed as a Date subclass but sent as-is: a string keeps the six-digit precision.
      acquireTime: (takingOver ? now : (spec.acquireTime ?? now)) as unknown as Date,
      renewTime: now as unknown as Date,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && previous !== undefined ? 1 : 0),
    };
  };

  const tryAcquireOrRenew = async (): Promise<void> => {
    let lease: V1Lease | undefined;
    try {
      lease = await coordination.readNamespacedLease({ name, namespace }, bounded);
    } catch (err) {
      const error = classifyKubeError(err, `read Lease ${namespace}/${name}`);
      if (error.code !== 'KubeNotFound') throw error;
    }
    if (lease === undefined) {
      try {
        const sentMs = nowMs();
        const created = await coordination.createNamespacedLease(
          { namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: desiredSpec(undefined) } },
          bounded,
        );
        observe(created);
        renewed(sentMs);
      } catch (err) {
        throw classifyKubeError(err, `create Lease ${namespace}/${name}`);
      }
      return;
    }
    observe(lease);
    const spec = lease.spec ?? {};
    const heldByOther = !!spec.holderIdentity && spec.holderIdentity !== identity;
    const durationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (heldByOther && nowMs() < observedAtMs + durationMs) {
      // Someone else holds a live Lease: we are (or have just become) a follower.
      setLeading(false);
      return;
    }
    try {
      const sentMs = nowMs();
      const updated = await coordination.replaceNamespacedLease(
        // metadata carries the resourceVersion we read: a concurrent candidate makes this a 409.
        { name, namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec: desiredSpec(lease) } },
        bounded,
      );
      observe(updated);
      renewed(sentMs);
    } catch (err) {
      throw classifyKubeError(err, `update Lease ${namespace}/${name}`);
    }
  };

  const tick = async () => {
    try {
      await tryAcquireOrRenew();
    } catch (err) {
      const code = (err as { code?: string }).code;
      logger.warn({ lease: `${namespace}/${name}`, code }, leading ? 'lease renewal failed' : 'lease acquisition failed');
      if (leading && !withinDeadline()) setLeading(false);
    }
  };

  const schedule = () => {
    if (!running) return;
    timer = setTimer(() => {
      inFlight = tick().finally(() => {
        inFlight = undefined;
        schedule();
      });
    }, retryPeriodMs, true);
  };

  return {
    start() {
      if (running) return;
      running = true;
      inFlight = tick().finally(() => {
        inFlight = undefined;
        schedule();
      });
    },
    async stop() {
      running = false;
      timer?.cancel();
      await inFlight;
      deadlineTimer?.cancel();
      if (!leading) return;
      // Step down first so nothing writes while the Lease is being released.
      setLeading(false);
      try {
        const lease = await coordination.readNamespacedLease({ name, namespace });
        if (lease.spec?.holderIdentity !== identity) return;
        const now = formatMicroTime(clock.now());
        await coordination.replaceNamespacedLease({
          name,
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: lease.metadata,
            spec: {
              ...lease.spec,
              holderIdentity: '',
              leaseDurationSeconds: 1,
              renewTime: now as unknown as Date,
              acquireTime: now as unknown as Date,
            },
          },
        });
        logger.info({ lease: `${namespace}/${name}` }, 'lease released');
      } catch (err) {
        const error = classifyKubeError(err, `release Lease ${namespace}/${name}`);
        logger.warn({ lease: `${namespace}/${name}`, code: error.code }, 'lease release failed');
      }
    },
    // Checked on every call, not only by the timer: a write decided an instant after the deadline is refused too.
    isLeader: () => leading && withinDeadline(),
    leader: () => holder,
    leaderKnown: () => known,
  };
}
