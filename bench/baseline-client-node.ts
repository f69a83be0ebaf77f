// The baseline's diagnostic variants on @kubernetes/client-node: as the controller uses it, and with one
// dispatcher reused for every request (the fix proposed for the controller).
import { KubeConfig, CoreV1Api, PatchStrategy, setHeaderOptions, type RequestContext } from '@kubernetes/client-node';
import { patchBody, type BaselineConfig, type BaselineResult, type ListedSecret, type TokenMemo } from './baseline-body.ts';
import { forEachConcurrent } from './pool.ts';

/**
 * client-node 2.0.1 builds a new undici Agent for every API call (KubeConfig.applySecurityAuthentication
 * → createDispatcher, uncached), so every request opens a new TCP + TLS connection and leaves it idle
 * until undici's keep-alive timeout. This keeps the first dispatcher and reuses it: one pool of
 * keep-alive connections, as client-go has. Safe for bearer-token users (the token is a header, not a
 * TLS option); client-certificate rotation would need the cache keyed by the certificate.
 */
export class PooledKubeConfig extends KubeConfig {
  #dispatcher: ReturnType<RequestContext['getDispatcher']>;
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    this.#dispatcher ??= context.getDispatcher();
    if (this.#dispatcher) context.setDispatcher(this.#dispatcher);
  }
}

export async function runClientNode(config: BaselineConfig): Promise<BaselineResult> {
  const kc = config.mode === 'client-node-pooled' ? new PooledKubeConfig() : new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'bench', server: config.server, caData: Buffer.from(config.caPem).toString('base64'), skipTLSVerify: false }],
    users: [{ name: 'controller', token: config.token }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'controller' }],
    currentContext: 'bench',
  });
  const core = kc.makeApiClient(CoreV1Api);
  const listStart = performance.now();
  const list = await core.listSecretForAllNamespaces({ labelSelector: config.labelSelector });
  const listMs = performance.now() - listStart;
  const tokens: TokenMemo = new Map();
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  let failed = 0;
  const patchStart = performance.now();
  await forEachConcurrent(list.items as ListedSecret[], config.concurrency, async (secret) => {
    const { namespace = '', name = '' } = secret.metadata ?? {};
    try {
      await core.patchNamespacedSecret({ name, namespace, body: patchBody(secret, config, tokens), fieldManager: config.fieldManager }, mergePatch);
    } catch {
      failed++;
    }
  });
  const patchMs = performance.now() - patchStart;
  return { mode: config.mode, listMs, patchMs, patched: list.items.length - failed, failed, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

