// The whole product on loopback, as it runs in a cluster: the shipped manifests applied to the test bed,
// `kube-regcred sts` and `kube-regcred controller` as real CLI processes, a Distribution registry whose
// token realm is the sts (or one without auth behind `kube-regcred proxy`; both from token-registry.ts),
// and the controller acting with a token of the ServiceAccount the manifests create (so their RBAC, not
// an admin's, is what it has). Used by the full-chain e2e and `npm run demo`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { ControlPlane } from './control-plane.ts';
import { grantRole } from './rbac.ts';
import { freePort } from './ports.ts';
import { startComponent, type Component } from './process.ts';
import { builtCli } from './cli.ts';
import { serviceAccountToken, startTokenRegistry, STS_AUDIENCE, type TokenRegistry, type TokenRegistryOptions } from './token-registry.ts';
import { StopSteps } from './stop-steps.ts';

export { CONTROLLER_SUBJECT, PUBLISHER, STS_AUDIENCE } from './token-registry.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = await builtCli();

export interface FullChainOptions extends TokenRegistryOptions {
  /** Namespaces the controller watches; empty = cluster-wide. */
  namespaces: string[];
  /** An identity policy (docs/controller.md) for `--identity-policy`; none by default. */
  identityPolicy?: Record<string, unknown>;
  /** More controller flags, e.g. `--explain-pull-backoff`. */
  controllerArgs?: string[];
  /** The manifests/overlays/ entry applied, whose RBAC the controller then has; default `default`. */
  overlay?: string;
  /** More controller flags that name the registry's host (e.g. --passthrough-registries). */
  controllerArgsFor?: (registryHost: string) => string[];
}

export interface FullChain extends TokenRegistry {
  controllerOpsUrl: string;
  controllerLog: string;
  stopController(): Promise<void>;
}

async function applyManifests(cp: ControlPlane, overlay: string): Promise<void> {
  const kubeconfig = cp.writeKubeconfig('admin');
  await run('kubectl', ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--field-manager=kube-regcred-e2e', '-k', join(ROOT, 'manifests', 'overlays', overlay)]);
}

/**
 * Several chains share the run's control plane (one per test file), so each controller elects itself
 * on a Lease of its own: with the shipped name they would all wait for whichever chain leads. The only
 * grant beyond the shipped RBAC is get/update of that one Lease, as the shipped Role has for its own.
 */
async function grantOwnLease(cp: ControlPlane, leaseName: string): Promise<void> {
  await grantRole(cp, {
    namespace: 'kube-regcred',
    name: leaseName,
    rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update'], resourceNames: [leaseName] }],
    serviceAccount: { namespace: 'kube-regcred', name: 'kube-regcred' },
  });
}

async function waitReady(url: string, what: string, logFile: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become ready at ${url} within ${timeoutMs} ms (log: ${logFile})`);
}

export async function startFullChain(cp: ControlPlane, options: FullChainOptions): Promise<FullChain> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kube-regcred-chain-'));
  mkdirSync(dir, { recursive: true });
  const stopping = new StopSteps();
  const stop = async (): Promise<void> => {
    await stopping.run();
    // A directory of its own making goes with it (a caller's, such as the demo's, is the caller's).
    if (options.dir === undefined && !process.env.KUBE_REGCRED_KEEP_TESTBED) rmSync(dir, { recursive: true, force: true });
  };

  try {
    await applyManifests(cp, options.overlay ?? 'default');

    const tokens = await startTokenRegistry(cp, { ...options, dir });
    stopping.push(() => tokens.stop());
    const { registry, stsUrl } = tokens;

    // In a cluster the controller reads its projected token; here the same ServiceAccount's token
    // goes into a kubeconfig. Its permissions are exactly what manifests/base grants.
    const controllerToken = await serviceAccountToken(cp, 'kube-regcred', 'kube-regcred');
    const kubeconfig = cp.writeKubeconfig({ token: controllerToken, name: 'kube-regcred' }, join(dir, 'controller.kubeconfig'));
    const controllerOps = await freePort();
    const controllerOpsUrl = `http://127.0.0.1:${controllerOps}`;
    const controllerLog = join(dir, 'controller.log');
    const policyArgs: string[] = [];
    if (options.identityPolicy) {
      const policyFile = join(dir, 'identity-policy.yaml');
      writeFileSync(policyFile, stringify(options.identityPolicy));
      policyArgs.push('--identity-policy', policyFile);
    }
    const leaseName = `kube-regcred-controller-${randomBytes(4).toString('hex')}`;
    await grantOwnLease(cp, leaseName);
    const controllerArgs = [
      CLI, 'controller',
      '--lease-name', leaseName,
      '--kubeconfig', kubeconfig,
      '--issuer-url', stsUrl,
      '--audience', STS_AUDIENCE,
      '--default-registry', registry.host,
      '--service-account-name', 'kube-regcred',
      '--service-account-namespace', 'kube-regcred',
      '--ops-address', `127.0.0.1:${controllerOps}`,
      '--log-level', options.logLevel ?? 'info',
      ...(options.namespaces.length > 0 ? ['--namespaces', options.namespaces.join(',')] : []),
      ...policyArgs,
      ...(options.controllerArgs ?? []),
      ...(options.controllerArgsFor?.(registry.host) ?? []),
    ];
    let controller: Component | undefined = await startComponent({
      name: 'kube-regcred controller',
      command: process.execPath,
      args: controllerArgs,
      logFile: controllerLog,
      ready: async () => (await fetch(`${controllerOpsUrl}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200,
      startTimeoutMs: 30_000,
    });
    const stopController = async (): Promise<void> => {
      await controller?.stop();
      controller = undefined;
    };
    stopping.push(stopController);
    await waitReady(`${controllerOpsUrl}/readyz`, 'kube-regcred controller', controllerLog);

    return {
      ...tokens,
      controllerOpsUrl,
      controllerLog,
      stopController,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
