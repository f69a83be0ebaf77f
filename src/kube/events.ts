// core/v1 Events on Secrets. Which transitions deserve an Event is the caller's decision (reconcile
// de-duplicates on state changes); this module only builds and sends them. Reason strings are constants
// so alerts and `kubectl get events --field-selector reason=...` can rely on them.
import { randomBytes } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { KubeApi } from './api-client.ts';
import { classifyKubeError } from './errors.ts';
import { typedApis } from './typed-apis.ts';

/** Every Event reason the controller emits. */
export const EVENT_REASONS = {
  /** Warning: the Secret's annotations or content are unusable; fixed by editing the Secret. */
  InvalidSecret: 'InvalidSecret',
  /** Warning: the identity policy does not allow this namespace to use the identity (for this use). */
  NotAllowed: 'NotAllowed',
  /** Warning: the policy no longer allows the Secret's identity: kube-regcred's token was removed. */
  TokenRevoked: 'TokenRevoked',
  /** Normal: the pull secret was added to a ServiceAccount's imagePullSecrets (attach-to). */
  Attached: 'Attached',
  /** Warning: the pull secret could not be added to a ServiceAccount (missing, or not permitted). */
  AttachFailed: 'AttachFailed',
  /**
   * Warning, on a Pod: it cannot pull, and it was admitted before its ServiceAccount listed the pull
   * secret kube-regcred attaches to it (imagePullSecrets are copied into a Pod only at admission).
   */
  PullSecretNotInPod: 'PullSecretNotInPod',
  /** Warning: the token exchange (or the TokenRequest before it) failed. */
  ExchangeFailed: 'ExchangeFailed',
  /** Warning: the controller may not write this Secret (outside its RBAC grant). */
  WriteForbidden: 'WriteForbidden',
  /** Warning: writing the Secret failed for another reason. */
  WriteFailed: 'WriteFailed',
  /** Normal: the Secret holds a fresh token again after a reported failure. */
  Recovered: 'Recovered',
} as const;

export type EventReason = (typeof EVENT_REASONS)[keyof typeof EVENT_REASONS];

export interface EventTarget {
  /** The involved object's kind; default Secret. */
  kind?: 'Secret' | 'Pod';
  namespace: string;
  name: string;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
}

export interface EventRecord {
  type: 'Normal' | 'Warning';
  reason: EventReason;
  /** For people; must already be free of secret material (RegcredError messages are). */
  message: string;
}

export interface EventRecorder {
  /** Best effort: a failure to record is logged, never thrown, so it cannot fail a reconcile. */
  record(target: EventTarget, event: EventRecord): Promise<void>;
}

export interface EventRecorderOptions {
  api: KubeApi;
  clock: Clock;
  logger: Logger;
  /** `source.component` / `reportingComponent`. */
  component: string;
  /** `reportingInstance`, e.g. the Pod name. */
  instance: string;
}

/** Event messages are capped like kubectl's (1 KiB) to keep them readable. */
const MAX_MESSAGE = 1024;

export function createEventRecorder(options: EventRecorderOptions): EventRecorder {
  const { core } = typedApis(options.api);
  return {
    async record(target, event) {
      const now = options.clock.now();
      // metav1.Time is RFC 3339 in whole seconds on the wire.
      const timestamp = now.toISOString().replace(/\.\d+Z$/, 'Z') as unknown as Date;
      const body: CoreV1Event = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          // client-go's naming: involved object name + a unique suffix.
          name: `${target.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`,
          namespace: target.namespace,
        },
        involvedObject: {
          apiVersion: 'v1',
          kind: target.kind ?? 'Secret',
          namespace: target.namespace,
          name: target.name,
          uid: target.uid,
          resourceVersion: target.resourceVersion,
        },
        type: event.type,
        reason: event.reason,
        message: event.message.slice(0, MAX_MESSAGE),
        source: { component: options.component },
        reportingComponent: options.component,
        reportingInstance: options.instance,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      };
      try {
        await core.createNamespacedEvent({ namespace: target.namespace, body });
      } catch (err) {
        const error = classifyKubeError(err, 'create Event');
        options.logger.warn({ secret: `${target.namespace}/${target.name}`, reason: event.reason, code: error.code }, 'event not recorded');
      }
    },
  };
}
