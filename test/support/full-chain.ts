// The whole product on loopback, as it runs in a cluster: the shipped manifests applied to the test bed,
// `kube-regcred sts` and `kube-regcred controller` as real CLI processes, a Distribution registry whose
// token realm is the sts (or one without auth behind `kube-regcred proxy`), and the controller acting with a token of the ServiceAccount the manifests
// create (so their RBAC, not an admin's, is what it has). Used by the full-chain e2e and `npm run demo`.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ControlPlane } from './control-plane.ts';
import { createCertificateAuthority, issueCertificate } from './pki.ts';
import { grantRole } from './rbac.ts';
import { freePort } from './ports.ts';
import { startComponent, type Component } from './process.ts';
import { startRegistry, type RegistryProcess } from './registry.ts';
import { buildRunnableImage } from './pods.ts';
import { skopeoCopy, writeAuthfile, type CopyResult } from './skopeo.ts';
import { builtCli } from './cli.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = await builtCli();

export const STS_AUDIENCE = 'kube-regcred-sts';
export const CONTROLLER_SUBJECT = 'system:serviceaccount:kube-regcred:kube-regcred';
export const PUBLISHER = { namespace: 'kube-regcred-publisher', name: 'publisher' };

export interface FullChainOptions {
  /** Lifetime of tokens from /sts/exchange: what the controller writes and refreshes. */
  exchangeLifetime: string;
  /** Lifetime of tokens from /token, presented to the registry. */
  registryLifetime: string;
  /** Namespaces the controller watches; empty = cluster-wide. */
  namespaces: string[];
  /** Where logs and generated files go; default a new temporary directory. */
  dir?: string;
  logLevel?: string;
  /** An identity policy (docs/controller.md) for `--identity-policy`; none by default. */
  identityPolicy?: Record<string, unknown>;
  /** More controller flags, e.g. `--explain-pull-backoff`. */
  controllerArgs?: string[];
  /** The manifests/overlays/ entry applied, whose RBAC the controller then has; default `default`. */
  overlay?: string;
  /**
   * A registry WITHOUT auth behind `kube-regcred proxy` (a CLI process) instead of one with token
   * auth: `registry` is then the proxy's address, which every client (and the controller) uses.
   */
  behindProxy?: boolean;
  /** More controller flags that name the registry's host (e.g. --passthrough-registries). */
  controllerArgsFor?: (registryHost: string) => string[];
  /** More audiences the sts accepts from the cluster issuer (pass-through: the registry's audience). */
  extraIssuerAudiences?: string[];
  /** More sts identities (same shape as the config's `identities` entries). */
  extraIdentities?: Array<Record<string, unknown>>;
}

export interface FullChain {
  dir: string;
  /** Where clients push and pull: the registry, or with `behindProxy` the proxy in front of it. */
  registry: RegistryProcess;
  /** With `behindProxy`: the registry behind the proxy, its ops URL and its log. */
  proxied?: { upstream: RegistryProcess; proxyOpsUrl: string; proxyLog: string };
  stsUrl: string;
  controllerOpsUrl: string;
  stsLog: string;
  controllerLog: string;
  /** The identity UIDs the sts configuration starts with. */
  identities: { pull: string; push: string };
  /** Pushes a runnable image (a Pod of it becomes Running) as the publisher identity, through the sts. */
  publish(repository: string, tag: string): Promise<CopyResult>;
  /** A registry token of the publisher identity (pull and push), as a push secret would hold. */
  publisherToken(): Promise<string>;
  /** Pulls with a Secret's .dockerconfigjson as skopeo's authfile, as a node would. */
  pullWith(secret: V1Secret, repository: string, tag: string): Promise<CopyResult>;
  /** Rewrites the sts configuration without the pull identity (reloaded by the running sts). */
  removePullIdentity(): void;
  stopController(): Promise<void>;
  stop(): Promise<void>;
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

async function serviceAccountToken(cp: ControlPlane, namespace: string, name: string, audience?: string): Promise<string> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const result = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: audience ? [audience] : [], expirationSeconds: 3600 } },
  });
  const token = result.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  return token;
}

async function ensurePublisher(cp: ControlPlane): Promise<void> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: PUBLISHER.namespace } } }).catch(ignoreConflict);
  await core.createNamespacedServiceAccount({ namespace: PUBLISHER.namespace, body: { metadata: { name: PUBLISHER.name } } }).catch(ignoreConflict);
}

function ignoreConflict(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err;
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
  const stopping: Array<() => Promise<void>> = [];
  const stop = async (): Promise<void> => {
    for (const step of stopping.reverse()) await step().catch(() => undefined);
    stopping.length = 0;
  };

  try {
    await applyManifests(cp, options.overlay ?? 'default');
    await ensurePublisher(cp);

    // The sts port comes first: the registry's realm names it, and the sts config names the registry.
    const stsPort = await freePort();
    const stsUrl = `http://127.0.0.1:${stsPort}`;
    const ca = createCertificateAuthority(mkdtempSync(join(dir, 'pki-')), 'kube-regcred sts signing CA');
    const signer = issueCertificate(ca, { commonName: 'kube-regcred-sts' });
    const tokenIssuer = 'kube-regcred-sts';
    let registry: RegistryProcess;
    let upstream: RegistryProcess | undefined;
    if (options.behindProxy) {
      // The proxy's port comes first too: the sts configuration names it as the registry host.
      upstream = await startRegistry({ auth: 'none' });
      stopping.push(() => upstream!.stop());
      const host = `127.0.0.1:${await freePort()}`;
      registry = { ...upstream, host, url: `http://${host}` };
    } else {
      registry = await startRegistry({ realm: `${stsUrl}/token`, service: 'registry.kube-regcred.test', issuer: tokenIssuer, rootCertBundlePath: ca.certFile });
      stopping.push(() => registry.stop());
    }

    const identities = { pull: 'demo-pull', push: 'demo-publish' };
    const configFile = join(dir, 'sts.yaml');
    const config = (withPull: boolean) => ({
      service: 'registry.kube-regcred.test',
      tokenIssuer,
      realm: `${stsUrl}/token`,
      // The controller asks for aud=<its default registry>: the registry's host here.
      exchangeAudiences: [registry.host],
      lifetimes: { exchange: options.exchangeLifetime, registry: options.registryLifetime },
      signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle: 'x5c' },
      issuers: [{ name: 'cluster', issuer: cp.issuer, audiences: [STS_AUDIENCE, ...(options.extraIssuerAudiences ?? [])], caFile: cp.caFile }],
      identities: [
        ...(withPull
          ? [{ uid: identities.pull, issuer: 'cluster', subject: CONTROLLER_SUBJECT, grants: [{ repository: 'demo/**', actions: ['pull'] }] }]
          : []),
        {
          uid: identities.push,
          issuer: 'cluster',
          subject: `system:serviceaccount:${PUBLISHER.namespace}:${PUBLISHER.name}`,
          grants: [{ repository: 'demo/**', actions: ['pull', 'push'] }],
        },
        ...(options.extraIdentities ?? []),
      ],
    });
    // Replaced atomically, as a ConfigMap update is, so the sts never reads half a file.
    const writeConfig = (withPull: boolean): void => {
      writeFileSync(`${configFile}.tmp`, stringify(config(withPull)));
      renameSync(`${configFile}.tmp`, configFile);
    };
    writeConfig(true);

    const node = process.execPath;
    const stsOps = await freePort();
    const stsLog = join(dir, 'sts.log');
    const sts: Component = await startComponent({
      name: 'kube-regcred sts',
      command: node,
      args: [CLI, 'sts', '--config', configFile, '--listen-address', `127.0.0.1:${stsPort}`, '--ops-address', `127.0.0.1:${stsOps}`, '--log-level', options.logLevel ?? 'info'],
      logFile: stsLog,
      ready: async () => (await fetch(`http://127.0.0.1:${stsOps}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200,
      startTimeoutMs: 30_000,
    });
    stopping.push(() => sts.stop());

    let proxied: FullChain['proxied'];
    if (upstream) {
      const proxyOps = await freePort();
      const proxyLog = join(dir, 'proxy.log');
      const proxy = await startComponent({
        name: 'kube-regcred proxy',
        command: node,
        args: [
          CLI, 'proxy',
          '--upstream', upstream.url,
          '--realm', `${stsUrl}/token`,
          '--service', 'registry.kube-regcred.test',
          '--token-issuer', tokenIssuer,
          '--token-jwks-url', `${stsUrl}/.well-known/jwks.json`,
          '--listen-address', registry.host,
          '--ops-address', `127.0.0.1:${proxyOps}`,
          '--log-level', options.logLevel ?? 'info',
        ],
        logFile: proxyLog,
        ready: async () => (await fetch(`http://127.0.0.1:${proxyOps}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200,
        startTimeoutMs: 30_000,
      });
      stopping.push(() => proxy.stop());
      proxied = { upstream, proxyOpsUrl: `http://127.0.0.1:${proxyOps}`, proxyLog };
    }

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
      command: node,
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

    const exchange = async (identity: string, subjectToken: string): Promise<string> => {
      const url = `${stsUrl}/sts/exchange?aud=${encodeURIComponent(registry.host)}&identity=${encodeURIComponent(identity)}`;
      const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${subjectToken}` } });
      if (res.status !== 200) throw new Error(`exchange for ${identity} answered ${res.status}`);
      return ((await res.json()) as { token: string }).token;
    };

    const publisherToken = async (): Promise<string> =>
      exchange(identities.push, await serviceAccountToken(cp, PUBLISHER.namespace, PUBLISHER.name, STS_AUDIENCE));

    return {
      dir,
      registry,
      ...(proxied ? { proxied } : {}),
      publisherToken,
      stsUrl,
      controllerOpsUrl,
      stsLog,
      controllerLog,
      identities,
      async publish(repository, tag) {
        const image = buildRunnableImage(mkdtempSync(join(dir, 'image-')), `kube-regcred ${repository}:${tag}`);
        const token = await publisherToken();
        const authfile = writeAuthfile(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`_token:${token}`).toString('base64') } } }));
        try {
          return await skopeoCopy(`oci:${image}:latest`, `docker://${registry.host}/${repository}:${tag}`, { destAuthfile: authfile });
        } finally {
          rmSync(authfile, { force: true });
        }
      },
      async pullWith(secret, repository, tag) {
        const data = secret.data?.['.dockerconfigjson'];
        if (!data) return { ok: false, stderr: 'the Secret has no .dockerconfigjson' };
        const authfile = writeAuthfile(Buffer.from(data, 'base64').toString('utf8'));
        try {
          return await skopeoCopy(`docker://${registry.host}/${repository}:${tag}`, `oci:${mkdtempSync(join(dir, 'pulled-'))}:latest`, { srcAuthfile: authfile });
        } finally {
          rmSync(authfile, { force: true });
        }
      },
      removePullIdentity: () => writeConfig(false),
      stopController,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
