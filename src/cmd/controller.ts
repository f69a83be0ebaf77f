// `kube-regcred controller`: parses options, builds every dependency (logger, metrics registry, clients,
// clock, random), starts the ops server, the Secret controller and leader election, and shuts all of it
// down gracefully on SIGTERM/SIGINT.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { DestinationStream } from 'pino';
import { ANNOTATIONS } from '../annotations.ts';
import { systemClock, systemRandom, type Clock, type Random, type TimerClock } from '../clock.ts';
import { OptionsError } from '../config.ts';
import { createController, type Controller } from '../controller/controller.ts';
import { createControllerMetrics } from '../controller/metrics.ts';
import { controllerHelp, parseControllerSettings, type ControllerSettings } from '../controller/options.ts';
import { createSecretGauges } from '../controller/secret-gauges.ts';
import type { RegcredError } from '../errors.ts';
import { createOpsServer, type OpsServer } from '../http/ops-server.ts';
import { createKubeApi, type KubeApi } from '../kube/api-client.ts';
import { loadKubeConnection } from '../kube/kube-config.ts';
import { createLeaderElector, type LeaderElector } from '../kube/lease.ts';
import type { SecretInformer } from '../kube/secret-informer.ts';
import { createServiceAccountWatch, type ServiceAccountPullSecrets } from '../kube/service-account-watch.ts';
import type { Logger } from '../log.ts';
import { parseCommandLine, untilStopSignal } from './command-line.ts';
import { buildControllerPolicy } from './controller-policy.ts';
import { buildControllerReconciler } from './controller-reconciler.ts';
import { createControllerSecretInformer } from './controller-secrets.ts';
import { buildControllerTokens } from './controller-tokens.ts';
import { createProcessBasics } from './process-basics.ts';

export const COMPONENT = 'kube-regcred-controller';

export interface ControllerProcessIo {
  env: Readonly<Record<string, string | undefined>>;
  /** Where JSON logs go; stdout by default. */
  logDestination?: DestinationStream;
  clock?: TimerClock;
  random?: Random;
  /** Periodic re-read of the identity policy file (besides file events); default 30 s, 0 disables. */
  policyPollIntervalMs?: number;
}

export interface RunningController {
  readonly controller: Controller;
  /** The Secret cache (read-only): what the controller keeps in memory. */
  readonly secrets: SecretInformer;
  readonly elector: LeaderElector | undefined;
  readonly registry: Registry;
  readonly opsPort: number;
  /** This replica's leader-election identity. */
  readonly identity: string;
  readonly logger: Logger;
  /** Graceful stop: drain running reconciles, release the Lease, stop watching, close the ops server. */
  stop(): Promise<void>;
}

/** `fromConnection`: the mounted namespace in a cluster, the context's with a kubeconfig. */
function resolveNamespace(settings: ControllerSettings, env: ControllerProcessIo['env'], fromConnection: string | undefined): string {
  const namespace = settings.serviceAccountNamespace ?? env['POD_NAMESPACE'] ?? fromConnection;
  if (!namespace) {
    throw new OptionsError('--service-account-namespace: unset, and neither $POD_NAMESPACE, the in-cluster namespace file nor the kubeconfig context names one');
  }
  return namespace;
}

/** Builds and starts everything; the caller owns signals and the exit code. */
export async function startControllerProcess(settings: ControllerSettings, io: ControllerProcessIo): Promise<RunningController> {
  const clock = io.clock ?? systemClock;
  const random = io.random ?? systemRandom;
  const { logger, registry } = createProcessBasics('controller', settings.logLevel, io.logDestination);
  const connection = loadKubeConnection({ kubeconfigPath: settings.kubeconfig, env: io.env });
  const namespace = resolveNamespace(settings, io.env, connection.namespace);
  // Room beyond the workers for the Lease renewal, Events and list pages, so they never queue behind writes.
  const api = createKubeApi({ connection, maxSockets: settings.concurrency + 4, userAgent: COMPONENT });
  const identity = `${io.env['POD_NAME'] ?? io.env['HOSTNAME'] ?? hostname()}_${randomUUID().slice(0, 8)}`;
  const { defaultRegistry, registries, passthroughRegistries, refresh } = settings;
  const decideSettings = { defaultRegistry, registries, passthroughRegistries, refresh };
  // Built later than the parts that call back into it (policy reloads, leadership, token arrivals).
  let controller: Controller | undefined;

  const informer = createControllerSecretInformer({
    api,
    namespaces: settings.namespaces,
    withPushSecrets: settings.identityPolicyPath !== undefined,
    logger,
    random,
    onError: (error) => metrics.errors.inc({ code: error.code }),
  });
  const gauges = createSecretGauges(informer, clock);
  const metrics = createControllerMetrics({
    registry,
    managedSecrets: gauges.managedSecrets,
    earliestExpirySeconds: gauges.earliestExpirySeconds,
  });
  const { policySource, namespaceInformer } = buildControllerPolicy({
    path: settings.identityPolicyPath,
    api,
    logger,
    random,
    metrics,
    namespaces: settings.namespaces,
    onChange: () => controller?.resync(),
    pollIntervalMs: io.policyPollIntervalMs,
  });

  // On becoming leader: timers of keys seen as a follower were dropped, so every managed Secret is looked at now.
  const elector = buildElector(settings, { api, namespace, identity, clock, logger, onStartedLeading: () => controller?.resync() });
  const isLeader = () => (elector ? elector.isLeader() : true);
  const tokens = buildControllerTokens({
    api,
    settings,
    serviceAccount: { namespace, name: settings.serviceAccountName },
    clock,
    random,
    logger,
    metrics,
    isLeader,
    onStored: (key) => controller?.tokenArrived(key),
  });
  const { reconciler, podWatcher } = buildControllerReconciler({
    api, component: COMPONENT, identity, settings, decideSettings, informer, tokens, policySource, namespaceInformer, expiries: gauges, clock, random, logger, metrics, isLeader,
  });
  const running = createController({
    informer,
    reconciler,
    concurrency: settings.concurrency,
    backoff: settings.backoff,
    forbiddenRetryMs: settings.forbiddenRetryMs,
    clock,
    random,
    logger,
    ...(elector ? { leaderKnown: () => elector.leaderKnown() } : {}),
    ...(namespaceInformer ? { namespaceInformer } : {}),
  });
  controller = running;
  // attach-to: ServiceAccounts are watched once a Secret uses the annotation, so an imagePullSecrets
  // entry removed by hand comes back at once (needs list/watch on serviceaccounts).
  const onError = (error: RegcredError) => metrics.errors.inc({ code: error.code });
  const onChange = (sa: ServiceAccountPullSecrets) => running.serviceAccountChanged(sa);
  const serviceAccounts = createServiceAccountWatch({ api, namespaces: settings.namespaces, logger, random, onChange, onError });
  informer.on((type, secret) => {
    if (type !== 'deleted' && secret.annotations[ANNOTATIONS.attachTo] !== undefined) void serviceAccounts.start();
  });

  const ops: OpsServer = createOpsServer({ registry, logger, isReady: () => running.readiness() });
  const opsPort = await ops.listen(settings.ops.port, settings.ops.host);
  logger.info(startupSummary(settings, { opsPort, namespace, identity }), 'controller starting');
  await running.start();
  await podWatcher?.start();
  // Campaigning only once the cache has synced was measured faster than campaigning first (writes then
  // start with the first list page): interleaving a large list with the writes costs the apiserver more
  // than it saves (bench/results, 12.1 s vs 8.4-10.0 s for the loaded cold start).
  elector?.start();

  let stopping: Promise<void> | undefined;
  return {
    controller: running,
    secrets: informer,
    elector,
    registry,
    opsPort,
    identity,
    logger,
    stop() {
      stopping ??= (async () => {
        logger.info('controller stopping');
        // Drain first, while still leading: a write that is under way may finish legitimately.
        policySource?.close();
        await podWatcher?.stop();
        await running.stop();
        await serviceAccounts.stop();
        await elector?.stop();
        await ops.close();
        api.close();
        logger.info('controller stopped');
      })();
      return stopping;
    },
  };
}

/** What the first log line says about the configuration in force (no secrets in it). */
function startupSummary(settings: ControllerSettings, at: { opsPort: number; namespace: string; identity: string }): Record<string, unknown> {
  const le = settings.leaderElection;
  return {
    opsPort: at.opsPort,
    namespaces: settings.namespaces.length === 0 ? '*' : settings.namespaces,
    issuerUrl: settings.issuerUrl,
    defaultRegistry: settings.defaultRegistry,
    identityPolicy: settings.identityPolicyPath ?? false,
    workloadIdentity: settings.workloadIdentity,
    passthroughRegistries: Object.keys(settings.passthroughRegistries),
    serviceAccount: `${at.namespace}/${settings.serviceAccountName}`,
    leaderElection: le.enabled ? `${at.namespace}/${le.leaseName}` : false,
    identity: at.identity,
  };
}

interface ElectorDeps {
  api: KubeApi;
  namespace: string;
  identity: string;
  clock: Clock;
  logger: Logger;
  onStartedLeading: () => void;
}

/** The Lease-based elector, when leader election is on. */
function buildElector(settings: ControllerSettings, deps: ElectorDeps): LeaderElector | undefined {
  const le = settings.leaderElection;
  if (!le.enabled) return undefined;
  return createLeaderElector({
    ...deps,
    name: le.leaseName,
    leaseDurationMs: le.leaseDurationMs,
    renewDeadlineMs: le.renewDeadlineMs,
    retryPeriodMs: le.retryPeriodMs,
    onStoppedLeading: () => undefined,
  });
}

/** The `kube-regcred controller` entry point; resolves with the exit code. */
export async function runController(argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const commandLine = parseCommandLine('controller', argv, controllerHelp, () => parseControllerSettings(argv, env));
  if ('exitCode' in commandLine) return commandLine.exitCode;
  const { settings } = commandLine;

  let running: RunningController;
  try {
    running = await startControllerProcess(settings, { env });
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`kube-regcred controller: ${err.message}\n`);
      return 2;
    }
    // Startup failures (unreadable kubeconfig, port in use): the message is ours or Node's, not a body.
    process.stderr.write(`kube-regcred controller: cannot start: ${(err as Error).message}\n`);
    return 1;
  }

  await untilStopSignal(running.logger);
  await running.stop();
  return 0;
}
