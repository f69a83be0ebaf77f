// The credential provider as it ships (hack/build-credential-provider.ts: the single executable), built
// once per test process into a temporary directory; one run of it the way the kubelet runs it (request
// on stdin, response on stdout, stderr kept); and the registry side its tests pull from.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildCredentialProvider, type BuiltExecutable } from '../../hack/build-credential-provider.ts';
import { startStsProcess, type RunningSts } from '../../src/cmd/sts.ts';
import { parseStsSettings } from '../../src/sts/options.ts';
import type { ControlPlane } from './control-plane.ts';
import { createCertificateAuthority, issueCertificate } from './pki.ts';
import { freePort } from './ports.ts';
import { startRegistry, type RegistryProcess } from './registry.ts';
import { skopeoCopy, writeAuthfile } from './skopeo.ts';

let built: Promise<BuiltExecutable> | undefined;

/** The shipped file, in a directory of its own (usable as the kubelet's --image-credential-provider-bin-dir). */
export function shippedProvider(): Promise<BuiltExecutable> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-provider-bin-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return buildCredentialProvider(dir);
  })();
  return built;
}

export interface ProviderRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Spawn to exit. */
  wallMs: number;
}

export function runProvider(path: string, args: readonly string[], stdin: string, env: Record<string, string> = {}): Promise<ProviderRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // Like the kubelet: the configured env on top of the node's, no shell.
    const child = spawn(path, [...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, wallMs: performance.now() - started });
    });
    child.stdin.end(stdin);
  });
}

export function providerRequest(image: string, serviceAccountToken?: string, serviceAccountAnnotations?: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
    kind: 'CredentialProviderRequest',
    image,
    ...(serviceAccountToken !== undefined ? { serviceAccountToken } : {}),
    ...(serviceAccountAnnotations !== undefined ? { serviceAccountAnnotations } : {}),
  });
}

/** An sts identity as its configuration file writes it (docs/sts.md). */
export interface StsIdentityConfig {
  uid: string;
  issuer: 'cluster';
  subject?: string;
  subjectPattern?: string;
  grants: Array<{ repository: string; actions: string[] }>;
}

export interface ProviderBed {
  stsUrl: string;
  /** Real Distribution registries whose token realm is the sts. */
  registries: RegistryProcess[];
  /** The running sts (in-process, the real server), or undefined while stopped. */
  sts(): RunningSts | undefined;
  startSts(): Promise<void>;
  stopSts(): Promise<void>;
  /** Registry tokens the current sts instance issued through /sts/exchange for `identity`. */
  exchanges(identity: string): Promise<number>;
  /** Pushes an OCI layout with the credential of a provider answer (its stdout) for `host`. */
  pushWith(answer: string, host: string, layout: string, reference: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The registry side the provider tests need: `registryCount` registries behind one `kube-regcred sts`
 * that trusts the bed's ServiceAccount issuer for `audience`, on a fixed port so it can stop and start.
 */
export async function startProviderBed(cp: ControlPlane, dir: string, options: { audience: string; registryCount: number; identities: StsIdentityConfig[] }): Promise<ProviderBed> {
  const stsPort = await freePort();
  const stsUrl = `http://127.0.0.1:${stsPort}`;
  const service = 'registry.provider.test';
  const ca = createCertificateAuthority(mkdtempSync(join(dir, 'pki-')), 'provider bed signing CA');
  const signer = issueCertificate(ca, { commonName: 'kube-regcred-sts' });
  const registries: RegistryProcess[] = [];
  for (let i = 0; i < options.registryCount; i++) {
    registries.push(await startRegistry({ realm: `${stsUrl}/token`, service, issuer: 'kube-regcred-sts', rootCertBundlePath: ca.certFile }));
  }
  const configFile = join(dir, 'sts.yaml');
  writeFileSync(
    configFile,
    stringify({
      service,
      tokenIssuer: 'kube-regcred-sts',
      realm: `${stsUrl}/token`,
      // The provider asks for aud=<the image's registry host>.
      exchangeAudiences: registries.map((r) => r.host),
      lifetimes: { exchange: '15m', registry: '5m' },
      signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle: 'x5c' },
      issuers: [{ name: 'cluster', issuer: cp.issuer, audiences: [options.audience], caFile: cp.caFile }],
      identities: options.identities,
    }),
  );
  const settings = parseStsSettings(['--config', configFile, '--listen-address', `127.0.0.1:${stsPort}`, '--ops-address', '127.0.0.1:0', '--log-level', 'warn'], {});
  let sts: RunningSts | undefined;
  const bed: ProviderBed = {
    stsUrl,
    registries,
    sts: () => sts,
    async startSts() {
      sts = await startStsProcess(settings, { logDestination: { write: () => true } });
    },
    async stopSts() {
      await sts?.stop();
      sts = undefined;
    },
    async exchanges(identity) {
      if (!sts) return 0;
      const metric = await sts.metrics.tokensIssued.get();
      return metric.values.filter((v) => v.labels.action === 'exchange' && v.labels.identity === identity).reduce((sum, v) => sum + v.value, 0);
    },
    async pushWith(answer, host, layout, reference) {
      const { username, password } = (JSON.parse(answer) as { auth: Record<string, { username: string; password: string }> }).auth[host]!;
      const authfile = writeAuthfile(JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }));
      try {
        const pushed = await skopeoCopy(`oci:${layout}:latest`, `docker://${host}/${reference}`, { destAuthfile: authfile });
        if (!pushed.ok) throw new Error(`push of ${host}/${reference} failed: ${pushed.stderr}`);
      } finally {
        rmSync(authfile, { force: true });
      }
    },
    async stop() {
      await bed.stopSts();
      for (const registry of registries) await registry.stop();
    },
  };
  try {
    await bed.startSts();
  } catch (err) {
    await bed.stop();
    throw err;
  }
  return bed;
}
