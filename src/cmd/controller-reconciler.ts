// Builds the apply side of `kube-regcred controller`: the reconciler over leader-guarded writers, Events
// and attach (every side effect re-checks leadership right before it is sent: controller/leader-guard.ts),
// and the opt-in watcher that explains ImagePullBackOff on Pods.
import type { Clock, Random } from '../clock.ts';
import { guardAttacher, guardEvents, guardWriter, type IsLeader } from '../controller/leader-guard.ts';
import type { ControllerMetrics } from '../controller/metrics.ts';
import type { ControllerSettings } from '../controller/options.ts';
import { createPullBackoffExplainer } from '../controller/pull-backoff.ts';
import { createReconciler, type Reconciler } from '../controller/reconcile.ts';
import type { SecretExpiries } from '../controller/secret-gauges.ts';
import type { DecideSettings } from '../controller/decide.ts';
import { createEventRecorder } from '../kube/events.ts';
import type { KubeApi } from '../kube/api-client.ts';
import type { NamespaceInformer } from '../kube/namespace-informer.ts';
import { createPullBackoffPodWatcher, type PullBackoffPodWatcher } from '../kube/pull-backoff-pods.ts';
import type { SecretInformer } from '../kube/secret-informer.ts';
import { createSecretWriter } from '../kube/secret-writer.ts';
import { createServiceAccountAttacher } from '../kube/service-accounts.ts';
import type { Logger } from '../log.ts';
import type { PolicySource } from '../policy/policy-source.ts';
import type { ControllerTokens } from './controller-tokens.ts';

export interface ControllerReconcilerDeps {
  api: KubeApi;
  /** Field manager of every write and source component of every Event. */
  component: string;
  /** This replica's leader-election identity (the Events' reporting instance). */
  identity: string;
  settings: ControllerSettings;
  decideSettings: DecideSettings;
  informer: SecretInformer;
  tokens: ControllerTokens;
  policySource: PolicySource | undefined;
  namespaceInformer: NamespaceInformer | undefined;
  expiries: SecretExpiries;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics: ControllerMetrics;
  isLeader: IsLeader;
}

export function buildControllerReconciler(deps: ControllerReconcilerDeps): { reconciler: Reconciler; podWatcher: PullBackoffPodWatcher | undefined } {
  const { api, component, settings, informer, tokens, policySource, namespaceInformer, clock, logger, metrics, isLeader } = deps;
  const events = guardEvents(createEventRecorder({ api, clock, logger, component, instance: deps.identity }), isLeader);
  const podWatcher: PullBackoffPodWatcher | undefined = settings.explainPullBackoff
    ? createPullBackoffPodWatcher({
        api,
        namespaces: settings.namespaces,
        logger,
        random: deps.random,
        onStuck: createPullBackoffExplainer({ listSecrets: () => informer.list(), events, isLeader, logger }),
        onError: (error) => metrics.errors.inc({ code: error.code }),
      })
    : undefined;
  const reconciler = createReconciler({
    getSecret: (ns, name) => informer.get(ns, name),
    writer: guardWriter(createSecretWriter({ api, fieldManager: component }), isLeader),
    events,
    tokenCache: tokens.tokenCache,
    serviceAccountTokens: tokens.serviceAccountTokens,
    audience: tokens.exchanger.audience,
    subject: tokens.ownSubject,
    ...(tokens.workloadTokens ? { workloadTokens: tokens.workloadTokens } : {}),
    bindWorkloadTokens: settings.bindWorkloadTokens,
    passthrough: tokens.passthrough,
    attacher: guardAttacher(createServiceAccountAttacher({ api, fieldManager: component }), isLeader),
    attachRetryMs: settings.attachRetryMs,
    settings: deps.decideSettings,
    ...(policySource ? { policy: policySource.current } : {}),
    ...(namespaceInformer ? { namespaceLabels: (ns: string) => namespaceInformer.labels(ns) } : {}),
    clock,
    logger,
    metrics,
    isLeader,
    expiries: deps.expiries,
  });
  return { reconciler, podWatcher };
}
