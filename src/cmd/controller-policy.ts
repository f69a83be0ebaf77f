// Builds the identity policy side of `kube-regcred controller`: without a file, Chainguard's behaviour
// (any namespace may use any identity to pull) and no push at all; with one, the reloading policy source
// and a Namespace informer that supplies the labels its selectors match.
import { OptionsError } from '../config.ts';
import type { Random } from '../clock.ts';
import type { ControllerMetrics } from '../controller/metrics.ts';
import { RegcredError } from '../errors.ts';
import type { KubeApi } from '../kube/api-client.ts';
import { createNamespaceInformer, type NamespaceInformer } from '../kube/namespace-informer.ts';
import type { Logger } from '../log.ts';
import { openPolicySource, type PolicySource } from '../policy/policy-source.ts';

export interface ControllerPolicyDeps {
  /** --identity-policy; undefined: no policy file. */
  path: string | undefined;
  api: KubeApi;
  logger: Logger;
  random: Random;
  metrics: ControllerMetrics;
  /** --namespaces: a namespaced controller reads only these Namespaces (no cluster-wide list/watch in its RBAC). */
  namespaces?: readonly string[];
  /** The policy file changed: every managed Secret is judged again. */
  onChange: () => void;
  pollIntervalMs?: number | undefined;
}

export interface ControllerPolicy {
  policySource?: PolicySource;
  namespaceInformer?: NamespaceInformer;
}

export function buildControllerPolicy(deps: ControllerPolicyDeps): ControllerPolicy {
  const { path, logger, metrics } = deps;
  if (path === undefined) {
    logger.warn('no identity policy (--identity-policy): every namespace may use every identity to pull; push secrets are not served');
    return {};
  }
  let policySource: PolicySource;
  try {
    policySource = openPolicySource({
      path,
      logger,
      onChange: deps.onChange,
      onReloadResult: (result) => metrics.policyReloads.inc({ result }),
      ...(deps.pollIntervalMs !== undefined ? { pollIntervalMs: deps.pollIntervalMs } : {}),
    });
  } catch (err) {
    if (err instanceof RegcredError) throw new OptionsError(`--identity-policy: ${err.message}`);
    throw err;
  }
  const namespaceInformer = createNamespaceInformer({ api: deps.api, logger, random: deps.random, names: deps.namespaces ?? [], onError: (error) => metrics.errors.inc({ code: error.code }) });
  logger.info({ path, rules: policySource.current().rules.length }, 'identity policy loaded');
  return { policySource, namespaceInformer };
}
