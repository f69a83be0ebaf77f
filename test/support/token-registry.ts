// `kube-regcred sts` as a real CLI process and a Distribution registry whose token realm it is (or one
// without auth behind `kube-regcred proxy`), with a publisher identity that pushes workload images through
// it. The token side of the full chain (full-chain.ts adds the manifests and the controller process); the
// shipped-image e2e uses it alone, with the controller running as the shipped Deployment on the node.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { ControlPlane } from './control-plane.ts';
import { createCertificateAuthority, issueCertificate } from './pki.ts';
import { freePort } from './ports.ts';
import { startComponent, type Component } from './process.ts';
import { startRegistry, type RegistryProcess } from './registry.ts';
import { buildRunnableImage } from './pods.ts';
import { skopeoCopy, writeAuthfile, type CopyResult } from './skopeo.ts';
import { builtCli } from './cli.ts';
import { StopSteps } from './stop-steps.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = await builtCli();

export const STS_AUDIENCE = 'kube-regcred-sts';
export const CONTROLLER_SUBJECT = 'system:serviceaccount:kube-regcred:kube-regcred';
export const PUBLISHER = { namespace: 'kube-regcred-publisher', name: 'publisher' };

export interface TokenRegistryOptions {
  /** Lifetime of tokens from /sts/exchange: what the controller writes and refreshes. */
  exchangeLifetime: string;
  /** Lifetime of tokens from /token, presented to the registry. */
  registryLifetime: string;
  /** Where logs and generated files go; default a new temporary directory. */
  dir?: string;
  logLevel?: string;
  /**
   * A registry WITHOUT auth behind `kube-regcred proxy` (a CLI process) instead of one with token
   * auth: `registry` is then the proxy's address, which every client (and the controller) uses.
   */
  behindProxy?: boolean;
  /** More audiences the sts accepts from the cluster issuer (pass-through: the registry's audience). */
  extraIssuerAudiences?: string[];
  /** More sts identities (same shape as the config's `identities` entries). */
  extraIdentities?: Array<Record<string, unknown>>;
}

export interface TokenRegistry {
  dir: string;
  /** Where clients push and pull: the registry, or with `behindProxy` the proxy in front of it. */
  registry: RegistryProcess;
  /** With `behindProxy`: the registry behind the proxy, its ops URL and its log. */
  proxied?: { upstream: RegistryProcess; proxyOpsUrl: string; proxyLog: string };
  stsUrl: string;
  stsLog: string;
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
  stop(): Promise<void>;
}

export async function serviceAccountToken(cp: ControlPlane, namespace: string, name: string, audience?: string): Promise<string> {
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

export async function startTokenRegistry(cp: ControlPlane, options: TokenRegistryOptions): Promise<TokenRegistry> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'kube-regcred-chain-'));
  mkdirSync(dir, { recursive: true });
  const stopping = new StopSteps();
  const stop = async (): Promise<void> => {
    await stopping.run();
    // A directory of its own making goes with it (a caller's, such as the demo's, is the caller's).
    if (options.dir === undefined && !process.env.KUBE_REGCRED_KEEP_TESTBED) rmSync(dir, { recursive: true, force: true });
  };

  try {
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

    let proxied: TokenRegistry['proxied'];
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
      stsLog,
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
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
