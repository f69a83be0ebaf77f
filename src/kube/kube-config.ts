// Loads the Kubernetes client configuration (a kubeconfig file, or in-cluster) and builds the typed API
// clients the rest of kube/ uses. Nothing outside kube/ touches @kubernetes/client-node.
import { readFileSync } from 'node:fs';
import { CoordinationV1Api, CoreV1Api, KubeConfig, Watch, type RequestContext } from '@kubernetes/client-node';

/** Where a Pod's ServiceAccount namespace is mounted. */
export const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export interface KubeClients {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly watch: Watch;
}

export interface LoadKubeConfigOptions {
  /** Path of a kubeconfig file; when absent the in-cluster configuration is used. */
  kubeconfigPath?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * client-node 2.0.1 builds a new undici dispatcher, so a new TCP + TLS connection, for every request
 * (the benchmark saw 647 connections open at once and TLS set-up as the top CPU item). The dispatcher
 * only carries the connection's TLS settings, which do not change after loading; the bearer token is a
 * per-request header and keeps being re-read. So the first dispatcher is kept and reused.
 */
class PooledKubeConfig extends KubeConfig {
  #dispatcher: ReturnType<RequestContext['getDispatcher']>;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    this.#dispatcher ??= context.getDispatcher();
    if (this.#dispatcher) context.setDispatcher(this.#dispatcher);
  }
}

/**
 * An explicit --kubeconfig wins; otherwise the Pod's mounted ServiceAccount (in-cluster). Out of a
 * cluster without --kubeconfig we fail clearly instead of guessing `~/.kube/config`, so a controller
 * never runs by accident with a developer's admin credentials.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions): KubeConfig {
  const kc = new PooledKubeConfig();
  if (options.kubeconfigPath) {
    kc.loadFromFile(options.kubeconfigPath);
    return kc;
  }
  if (!options.env['KUBERNETES_SERVICE_HOST']) {
    throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST unset): pass --kubeconfig');
  }
  kc.loadFromCluster();
  return kc;
}

export function createKubeClients(kubeConfig: KubeConfig): KubeClients {
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    watch: new Watch(kubeConfig),
  };
}

/** The namespace of the current kubeconfig context, if it names one. */
export function contextNamespace(kubeConfig: KubeConfig): string | undefined {
  const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
  return context?.namespace || undefined;
}

/** The Pod's own namespace from the ServiceAccount mount, if present. */
export function readInClusterNamespace(path: string = IN_CLUSTER_NAMESPACE_FILE): string | undefined {
  try {
    const value = readFileSync(path, 'utf8').trim();
    return value === '' ? undefined : value;
  } catch {
    return undefined;
  }
}
