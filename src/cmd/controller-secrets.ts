// The controller's Secret cache: one watch for dockerconfigjson pull secrets and, with an identity
// policy, one for Opaque push secrets. Each sees every Secret of its type in the cluster and keeps only
// the opted-in ones, bounded (one data key up to MAX_DOCKER_CONFIG_BYTES, our annotations), so memory
// tracks the Secrets we manage, not the size of the cluster or what a tenant puts into a Secret.
import type { Random } from '../clock.ts';
import { ANNOTATIONS, isManaged, OPT_IN_ANNOTATIONS } from '../annotations.ts';
import { CONFIG_JSON_KEY, DOCKER_CONFIG_JSON_KEY, DOCKER_CONFIG_JSON_TYPE, MAX_DOCKER_CONFIG_BYTES, PUSH_SECRET_TYPE } from '../dockerconfig.ts';
import type { RegcredError } from '../errors.ts';
import type { KubeApi } from '../kube/api-client.ts';
import { containingAnyOf } from '../kube/list-item-filter.ts';
import { combineSecretInformers, createSecretInformer, type SecretInformer, type SecretInformerOptions } from '../kube/secret-informer.ts';
import type { Logger } from '../log.ts';

export interface ControllerSecretInformerOptions {
  api: KubeApi;
  /** Empty: cluster-wide. */
  namespaces: readonly string[];
  /** Watch Opaque push secrets too (only with an identity policy: without one push is refused anyway). */
  withPushSecrets: boolean;
  logger: Logger;
  random: Random;
  onError: (error: RegcredError) => void;
}

export function createControllerSecretInformer(options: ControllerSecretInformerOptions): SecretInformer {
  const { api, namespaces, logger, random, onError } = options;
  // Neither watch keeps a Secret without an opt-in annotation, so list items without one go unparsed:
  // most Secrets of a cluster, and each of them whole.
  const itemFilter = containingAnyOf(OPT_IN_ANNOTATIONS);
  const watch = (extra: Pick<SecretInformerOptions, 'fieldSelector' | 'keep' | 'kind' | 'limits'>) =>
    createSecretInformer({ api, namespaces, logger, random, onError, itemFilter, ...extra });
  const pull = watch({
    fieldSelector: `type=${DOCKER_CONFIG_JSON_TYPE}`,
    keep: (secret) => isManaged(secret.metadata?.annotations),
    kind: 'pull',
    limits: { dataKey: DOCKER_CONFIG_JSON_KEY, maxDataBytes: MAX_DOCKER_CONFIG_BYTES },
  });
  if (!options.withPushSecrets) return pull;
  const push = watch({
    fieldSelector: `type=${PUSH_SECRET_TYPE}`,
    // Any access value, so that a typo (`PUSH`) reaches decide() and is reported.
    keep: (secret) => isManaged(secret.metadata?.annotations) && secret.metadata?.annotations?.[ANNOTATIONS.access] !== undefined,
    kind: 'push',
    limits: { dataKey: CONFIG_JSON_KEY, maxDataBytes: MAX_DOCKER_CONFIG_BYTES },
  });
  return combineSecretInformers([pull, push]);
}
