// Explains the attach-to race on the Pod that suffers it: a Pod stuck pulling whose ServiceAccount is
// one kube-regcred attaches a pull secret to, but which was admitted before the ServiceAccount listed it
// (admission copies imagePullSecrets into the Pod once). The match is pure; Events are de-duplicated.
import { ANNOTATIONS, isManaged, parseAttachTo } from '../annotations.ts';
import { EVENT_REASONS, type EventRecorder } from '../kube/events.ts';
import type { StuckPod } from '../kube/pull-backoff-pods.ts';
import type { SecretObject } from '../kube/secret-informer.ts';
import type { Logger } from '../log.ts';
import { DOCKER_CONFIG_JSON_TYPE } from '../dockerconfig.ts';

/** Names of managed pull secrets in the Pod's namespace attached to its ServiceAccount but absent from the Pod. */
export function missingAttachedSecrets(pod: StuckPod, secrets: readonly SecretObject[]): string[] {
  const missing: string[] = [];
  for (const secret of secrets) {
    if (secret.namespace !== pod.namespace || secret.type !== DOCKER_CONFIG_JSON_TYPE || !isManaged(secret.annotations)) continue;
    let attachTo: string[];
    try {
      attachTo = parseAttachTo(secret.annotations[ANNOTATIONS.attachTo]);
    } catch {
      continue;
    }
    if (attachTo.includes(pod.serviceAccountName) && !pod.imagePullSecrets.includes(secret.name)) missing.push(secret.name);
  }
  return missing.sort();
}

export interface PullBackoffExplainerOptions {
  listSecrets: () => readonly SecretObject[];
  events: EventRecorder;
  isLeader: () => boolean;
  logger: Logger;
  /** Pod/Secret pairs remembered as explained; the memory is dropped when it grows past this. Default 10 000. */
  maxRemembered?: number;
}

export function createPullBackoffExplainer(options: PullBackoffExplainerOptions): (pod: StuckPod) => void {
  const explained = new Set<string>();
  const max = options.maxRemembered ?? 10_000;
  return (pod) => {
    if (!options.isLeader()) return;
    for (const secret of missingAttachedSecrets(pod, options.listSecrets())) {
      const key = `${pod.uid ?? `${pod.namespace}/${pod.name}`}/${secret}`;
      if (explained.has(key)) continue;
      if (explained.size >= max) explained.clear();
      explained.add(key);
      options.logger.info({ pod: `${pod.namespace}/${pod.name}`, secret }, 'pod cannot pull: admitted before its ServiceAccount listed the pull secret');
      void options.events.record(
        { kind: 'Pod', namespace: pod.namespace, name: pod.name, uid: pod.uid },
        {
          type: 'Warning',
          reason: EVENT_REASONS.PullSecretNotInPod,
          message:
            `pull secret ${secret} is attached to ServiceAccount ${pod.serviceAccountName} by kube-regcred (attach-to), but this Pod ` +
            'was created before the ServiceAccount listed it; imagePullSecrets are copied into a Pod only when it is created: re-create the Pod',
        },
      );
    }
  };
}
