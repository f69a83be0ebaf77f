// `kube-regcred controller`: parses options, builds every dependency (logger, metrics registry, clients,
// clock, random), starts the ops server, the Secret controller and leader election, and shuts all of it
// down gracefully on SIGTERM/SIGINT.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { DestinationStream } from 'pino';
import { systemClock, systemRandom, type Clock, type Random } from '../clock.ts';
import { OptionsError } from '../config.ts';
import { parseCommandLine, untilStopSignal } from './command-line.ts';
import { createChainguardExchanger } from '../exchange/chainguard.ts';
import { createTokenCache } from '../exchange/token-cache.ts';
import { createPassthroughWiring } from './passthrough-wiring.ts';
import { createOpsServer, type OpsServer } from '../http/ops-server.ts';
import { createEventRecorder } from '../kube/events.ts';
import { createKubeApi } from '../kube/api-client.ts';
import { loadKubeConnection } from '../kube/kube-config.ts';
import { createLeaderElector, type LeaderElector } from '../kube/lease.ts';
import { createNamespaceInformer, type NamespaceInformer } from '../kube/namespace-informer.ts';
import type { SecretInformer } from '../kube/secret-informer.ts';
import { createControllerSecretInformer } from './controller-secrets.ts';
import { ANNOTATIONS } from '../annotations.ts';
import { createSecretWriter } from '../kube/secret-writer.ts';
import { createServiceAccountAttacher } from '../kube/service-accounts.ts';
import { createServiceAccountWatch, type ServiceAccountPullSecrets } from '../kube/service-account-watch.ts';
import { createPullBackoffPodWatcher, type PullBackoffPodWatcher } from '../kube/pull-backoff-pods.ts';
import { createPullBackoffExplainer } from '../controller/pull-backoff.ts';
import { createTokenRequester } from '../kube/token-request.ts';
import type { Logger } from '../log.ts';
import { createProcessBasics } from './process-basics.ts';
import { RegcredError } from '../errors.ts';
import { openPolicySource, type PolicySource } from '../policy/policy-source.ts';
import { createServiceAccountTokenSource } from '../token/service-account-token.ts';
import { createWorkloadTokenSources } from '../token/workload-tokens.ts';
import { countExchanges, createController, createSecretGauges, type Controller } from '../controller/controller.ts';
import { createControllerMetrics } from '../controller/metrics.ts';
import { controllerHelp, parseControllerSettings, type ControllerSettings } from '../controller/options.ts';
import { createReconciler } from '../controller/reconcile.ts';
import { guardAttacher, guardEvents, guardExchanger, guardWriter } from '../controller/leader-guard.ts';

export const COMPONENT = 'kube-regcred-controller';

export interface ControllerProcessIo {
  env: Readonly<Record<string, string | undefined>>;
  /** Where JSON logs go; stdout by default. */
  logDestination?: DestinationStream;
  clock?: Clock;
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

  const informer = createControllerSecretInformer({
    api,
    namespaces: settings.namespaces,
    withPushSecrets: settings.identityPolicyPath !== undefined,
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

  // The identity policy: without a file, Chainguard's behaviour (any namespace may use any identity to
  // pull) and no push at all; with one, a Namespace informer supplies the labels its selectors match.
  let policySource: PolicySource | undefined;
  let namespaceInformer: NamespaceInformer | undefined;
  if (settings.identityPolicyPath !== undefined) {
    try {
      policySource = openPolicySource({
        path: settings.identityPolicyPath,
        logger,
        onChange: () => controller?.resync(),
        onReloadResult: (result) => metrics.policyReloads.inc({ result }),
        ...(io.policyPollIntervalMs !== undefined ? { pollIntervalMs: io.policyPollIntervalMs } : {}),
      });
    } catch (err) {
      if (err instanceof RegcredError) throw new OptionsError(`--identity-policy: ${err.message}`);
      throw err;
    }
    namespaceInformer = createNamespaceInformer({ api, logger, random, onError: (error) => metrics.errors.inc({ code: error.code }) });
    logger.info({ path: settings.identityPolicyPath, rules: policySource.current().rules.length }, 'identity policy loaded');
  } else {
    logger.warn('no identity policy (--identity-policy): every namespace may use every identity to pull; push secrets are not served');
  }

  let elector: LeaderElector | undefined;
  const isLeader = () => (elector ? elector.isLeader() : true);
  const exchanger = guardExchanger(
    countExchanges(
      createChainguardExchanger({ issuerUrl: settings.issuerUrl, audience: settings.audience, timeoutMs: settings.exchangeTimeoutMs, clock, random,
        capabilities: settings.capabilities, scopes: settings.scopes }),
      metrics,
    ),
    isLeader,
  );
  let controller: Controller | undefined;
  // A token that ends an outage wakes every Secret that failed waiting for it (controller/token-waiters.ts).
  const tokenCache = createTokenCache({ exchanger, clock, refresh: settings.refresh, onStored: (key) => controller?.tokenArrived(key) });
  const serviceAccount = { namespace, name: settings.serviceAccountName };
  const ownTokenRequester = createTokenRequester(api, serviceAccount, { logger });
  const serviceAccountTokens = createServiceAccountTokenSource({
    request: ownTokenRequester,
    clock,
    expirationSeconds: settings.tokenExpirationSeconds,
    onRequest: (result) => metrics.tokenRequests.inc({ result }),
  });

  // Opt-in: minting tokens of other ServiceAccounts is a power the RBAC component grants on purpose.
  const workloadTokens = settings.workloadIdentity
    ? createWorkloadTokenSources({
        request: (sa, request) => createTokenRequester(api, sa, { workload: true, logger, ...(sa.boundTo ? { boundTo: sa.boundTo } : {}) })(request),
        clock,
        expirationSeconds: settings.tokenExpirationSeconds,
        onRequest: (result) => metrics.tokenRequests.inc({ result }),
      })
    : undefined;

  const ownSubject = `system:serviceaccount:${namespace}:${settings.serviceAccountName}`;
  const passthrough = createPassthroughWiring({ api, clock, logger, metrics, settings, ownRequester: ownTokenRequester, ownSubject });

  const le = settings.leaderElection;
  elector = le.enabled
    ? createLeaderElector({
        api,
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

  // Every side effect re-checks leadership right before it is sent (controller/leader-guard.ts).
  const events = guardEvents(createEventRecorder({ api, clock, logger, component: COMPONENT, instance: identity }), isLeader);
  const podWatcher: PullBackoffPodWatcher | undefined = settings.explainPullBackoff
    ? createPullBackoffPodWatcher({
        api,
        namespaces: settings.namespaces,
        logger,
        random,
        onStuck: createPullBackoffExplainer({ listSecrets: () => informer.list(), events, isLeader, logger }),
        onError: (error) => metrics.errors.inc({ code: error.code }),
      })
    : undefined;
  const reconciler = createReconciler({
    getSecret: (ns, name) => informer.get(ns, name),
    writer: guardWriter(createSecretWriter({ api, fieldManager: COMPONENT }), isLeader),
    events,
    tokenCache,
    serviceAccountTokens,
    audience: exchanger.audience,
    subject: ownSubject,
    ...(workloadTokens ? { workloadTokens } : {}),
    bindWorkloadTokens: settings.bindWorkloadTokens,
    passthrough,
    attacher: guardAttacher(createServiceAccountAttacher({ api, fieldManager: COMPONENT }), isLeader),
    attachRetryMs: settings.attachRetryMs,
    settings: decideSettings,
    ...(policySource ? { policy: policySource.current } : {}),
    ...(namespaceInformer ? { namespaceLabels: (ns: string) => namespaceInformer.labels(ns) } : {}),
    clock,
    logger,
    metrics,
    isLeader,
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
    ...(namespaceInformer ? { namespaceInformer } : {}),
  });
  const running = controller;
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
  logger.info(
    {
      opsPort,
      namespaces: settings.namespaces.length === 0 ? '*' : settings.namespaces,
      issuerUrl: settings.issuerUrl,
      defaultRegistry: settings.defaultRegistry,
      identityPolicy: settings.identityPolicyPath ?? false,
      workloadIdentity: settings.workloadIdentity,
      passthroughRegistries: Object.keys(settings.passthroughRegistries),
      serviceAccount: `${namespace}/${settings.serviceAccountName}`,
      leaderElection: le.enabled ? `${namespace}/${le.leaseName}` : false,
      identity,
    },
    'controller starting',
  );
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
