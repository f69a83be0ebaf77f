// `kube-regcred controller`: parses options, builds every dependency (logger, metrics registry, clients,
// clock, random), starts the ops server, the Secret controller and leader election, and shuts all of it
// down gracefully on SIGTERM/SIGINT.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Registry } from 'prom-client';
import type { DestinationStream } from 'pino';
import { systemClock, systemRandom, type Clock, type Random } from '../clock.ts';
import { OptionsError } from '../config.ts';
import { createChainguardExchanger } from '../exchange/chainguard.ts';
import { createTokenCache } from '../exchange/token-cache.ts';
import { createOpsServer, type OpsServer } from '../http/ops-server.ts';
import { createEventRecorder } from '../kube/events.ts';
import { contextNamespace, createKubeClients, loadKubeConfig, readInClusterNamespace } from '../kube/kube-config.ts';
import { createLeaderElector, type LeaderElector } from '../kube/lease.ts';
import { createSecretInformer } from '../kube/secret-informer.ts';
import { createSecretWriter } from '../kube/secret-writer.ts';
import { createTokenRequester } from '../kube/token-request.ts';
import { createLogger, type Logger } from '../log.ts';
import { createServiceAccountTokenSource } from '../token/service-account-token.ts';
import { countExchanges, createController, createSecretGauges, type Controller } from '../controller/controller.ts';
import { createControllerMetrics } from '../controller/metrics.ts';
import { controllerHelp, parseControllerSettings, type ControllerSettings } from '../controller/options.ts';
import { createReconciler } from '../controller/reconcile.ts';

export const COMPONENT = 'kube-regcred-controller';

export interface ControllerProcessIo {
  env: Readonly<Record<string, string | undefined>>;
  /** Where JSON logs go; stdout by default. */
  logDestination?: DestinationStream;
  clock?: Clock;
  random?: Random;
}

export interface RunningController {
  readonly controller: Controller;
  readonly elector: LeaderElector | undefined;
  readonly registry: Registry;
  readonly opsPort: number;
  /** This replica's leader-election identity. */
  readonly identity: string;
  readonly logger: Logger;
  /** Graceful stop: drain running reconciles, release the Lease, stop watching, close the ops server. */
  stop(): Promise<void>;
}

function resolveNamespace(settings: ControllerSettings, env: ControllerProcessIo['env'], fromContext: string | undefined): string {
  const namespace = settings.serviceAccountNamespace ?? env['POD_NAMESPACE'] ?? readInClusterNamespace() ?? fromContext;
  if (!namespace) {
    throw new OptionsError('--service-account-namespace: unset, and neither $POD_NAMESPACE, the in-cluster namespace file nor the kubeconfig context names one');
  }
  return namespace;
}

/** Builds and starts everything; the caller owns signals and the exit code. */
export async function startControllerProcess(settings: ControllerSettings, io: ControllerProcessIo): Promise<RunningController> {
  const clock = io.clock ?? systemClock;
  const random = io.random ?? systemRandom;
  const logger = createLogger({ level: settings.logLevel, base: { component: 'controller' }, ...(io.logDestination ? { destination: io.logDestination } : {}) });
  const kubeConfig = loadKubeConfig({ kubeconfigPath: settings.kubeconfig, env: io.env });
  const namespace = resolveNamespace(settings, io.env, contextNamespace(kubeConfig));
  const clients = createKubeClients(kubeConfig);
  const identity = `${io.env['POD_NAME'] ?? io.env['HOSTNAME'] ?? hostname()}_${randomUUID().slice(0, 8)}`;
  const registry = new Registry();
  const decideSettings = { defaultRegistry: settings.defaultRegistry, registries: settings.registries, refresh: settings.refresh };

  const informer = createSecretInformer({
    clients,
    namespaces: settings.namespaces,
    logger,
    random,
    onError: (error) => metrics.errors.inc({ code: error.code }),
  });
  const gauges = createSecretGauges(informer, decideSettings, clock);
  const metrics = createControllerMetrics({
    registry,
    managedSecrets: gauges.managedSecrets,
    earliestExpirySeconds: gauges.earliestExpirySeconds,
  });

  const exchanger = countExchanges(
    createChainguardExchanger({ issuerUrl: settings.issuerUrl, audience: settings.audience, timeoutMs: settings.exchangeTimeoutMs, clock }),
    metrics,
  );
  const tokenCache = createTokenCache({ exchanger, clock, refresh: settings.refresh });
  const serviceAccount = { namespace, name: settings.serviceAccountName };
  const serviceAccountTokens = createServiceAccountTokenSource({
    request: createTokenRequester(clients, serviceAccount),
    clock,
    expirationSeconds: settings.tokenExpirationSeconds,
    onRequest: (result) => metrics.tokenRequests.inc({ result }),
  });

  let controller: Controller | undefined;
  const le = settings.leaderElection;
  const elector = le.enabled
    ? createLeaderElector({
        clients,
        namespace,
        name: le.leaseName,
        identity,
        leaseDurationMs: le.leaseDurationMs,
        renewDeadlineMs: le.renewDeadlineMs,
        retryPeriodMs: le.retryPeriodMs,
        clock,
        logger,
        // Timers of keys seen as a follower were dropped: look at every managed Secret now.
        onStartedLeading: () => controller?.resync(),
        onStoppedLeading: () => undefined,
      })
    : undefined;

  const reconciler = createReconciler({
    getSecret: (ns, name) => informer.get(ns, name),
    writer: createSecretWriter({ clients, fieldManager: COMPONENT }),
    events: createEventRecorder({ clients, clock, logger, component: COMPONENT, instance: identity }),
    tokenCache,
    serviceAccountTokens,
    audience: exchanger.audience,
    subject: `system:serviceaccount:${namespace}:${settings.serviceAccountName}`,
    settings: decideSettings,
    clock,
    logger,
    metrics,
    isLeader: () => (elector ? elector.isLeader() : true),
  });
  controller = createController({
    informer,
    reconciler,
    concurrency: settings.concurrency,
    backoff: settings.backoff,
    forbiddenRetryMs: settings.forbiddenRetryMs,
    clock,
    random,
    logger,
    ...(elector ? { leaderKnown: () => elector.leaderKnown() } : {}),
  });
  const running = controller;

  const ops: OpsServer = createOpsServer({ registry, logger, isReady: () => running.readiness() });
  const opsPort = await ops.listen(settings.ops.port, settings.ops.host);
  logger.info(
    {
      opsPort,
      namespaces: settings.namespaces.length === 0 ? '*' : settings.namespaces,
      issuerUrl: settings.issuerUrl,
      defaultRegistry: settings.defaultRegistry,
      serviceAccount: `${namespace}/${settings.serviceAccountName}`,
      leaderElection: le.enabled ? `${namespace}/${le.leaseName}` : false,
      identity,
    },
    'controller starting',
  );
  await running.start();
  elector?.start();

  let stopping: Promise<void> | undefined;
  return {
    controller: running,
    elector,
    registry,
    opsPort,
    identity,
    logger,
    stop() {
      stopping ??= (async () => {
        logger.info('controller stopping');
        // Drain first, while still leading: a write that is under way may finish legitimately.
        await running.stop();
        await elector?.stop();
        await ops.close();
        logger.info('controller stopped');
      })();
      return stopping;
    },
  };
}

/** The `kube-regcred controller` entry point; resolves with the exit code. */
export async function runController(argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(controllerHelp());
    return 0;
  }
  let settings: ControllerSettings;
  try {
    settings = parseControllerSettings(argv, env);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`kube-regcred controller: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

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

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      running.logger.info({ signal }, 'signal received');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await running.stop();
  return 0;
}
