// `kube-regcred proxy` on real components: a Distribution registry WITHOUT auth, the proxy in front
// of it, `kube-regcred sts` as the token service, and a GitHub-shaped OIDC issuer of the test's own
// (test/support/github-oidc.ts) whose job tokens the sts trusts. Clients (skopeo) only ever talk to
// the proxy; the registry's own port is used only to prove what landed there.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { startProxyProcess, type RunningProxy } from '../../src/cmd/proxy.ts';
import { startStsProcess, type RunningSts } from '../../src/cmd/sts.ts';
import type { ProxySettings } from '../../src/proxy/options.ts';
import { captureLogs, type LogCapture } from '../unit/sts-fixtures.ts';
import { startGithubOidc, type GithubOidc, type JobClaims } from './github-oidc.ts';
import { createCertificateAuthority, issueCertificate, type KeyPairFiles } from './pki.ts';
import { freePort } from './ports.ts';
import { startRegistry, type RegistryProcess } from './registry.ts';
import { writeAuthfile } from './skopeo.ts';
import { StopSteps } from './stop-steps.ts';

export const PROXY_SERVICE = 'registry.proxy.test';
export const PROXY_TOKEN_ISSUER = 'kube-regcred-sts-proxy-test';
export const STS_AUDIENCE = 'kube-regcred-sts';

/** The policy of docs/sts.md's GitHub example: push only from main of acme/app, pull from any acme repository. */
export const GITHUB_IDENTITIES = [
  {
    uid: 'acme-app-release',
    issuer: 'github',
    subjectPattern: 'repo:acme/app:**',
    condition: 'claims.repository == "acme/app" && claims.ref == "refs/heads/main" && claims.job_workflow_ref.startsWith("acme/app/.github/workflows/")',
    grants: [{ repository: 'apps/**', actions: ['pull', 'push'] }],
  },
  {
    uid: 'acme-readers',
    issuer: 'github',
    subjectPattern: 'repo:acme/*:**',
    condition: 'claims.repository_owner == "acme"',
    grants: [{ repository: 'apps/**', actions: ['pull'] }],
  },
];

export const MAIN_OF_APP: JobClaims = { repository: 'acme/app', ref: 'refs/heads/main' };
export const BRANCH_OF_APP: JobClaims = { repository: 'acme/app', ref: 'refs/heads/feature' };
export const OTHER_REPOSITORY: JobClaims = { repository: 'evil/app', ref: 'refs/heads/main' };

export interface ProxyBed {
  dir: string;
  registry: RegistryProcess;
  sts: RunningSts;
  proxy: RunningProxy;
  /** `127.0.0.1:PORT` of the proxy: the registry host clients use. */
  proxyHost: string;
  oidc: GithubOidc;
  signer: KeyPairFiles;
  logs: LogCapture;
  /** Every credential handed out, to search the logs for. */
  secrets: string[];
  /** A skopeo authfile for the proxy with `github:<job token>` (what the Action writes). */
  githubAuthfile(claims: JobClaims): Promise<string>;
  /** A registry token from the sts's /token for a job, for `scopes`. */
  registryToken(claims: JobClaims, scopes: string[]): Promise<string>;
  /** Another sts with the same signing key but another `service`, for tokens meant elsewhere. */
  startOtherService(service: string): Promise<RunningSts>;
  stop(): Promise<void>;
}

function stsConfig(bed: { signer: KeyPairFiles; oidc: GithubOidc; proxyHost: string }, service = PROXY_SERVICE): Record<string, unknown> {
  return {
    service,
    tokenIssuer: PROXY_TOKEN_ISSUER,
    // The Action's exchange (and the controller's) asks for aud=<registry host>: the proxy's.
    exchangeAudiences: [bed.proxyHost],
    lifetimes: { exchange: '10m', registry: '5m' },
    signing: { keyFile: bed.signer.keyFile, certificateFile: bed.signer.certFile, headerStyle: 'x5c' },
    issuers: [{ name: 'github', issuer: bed.oidc.issuer, audiences: [STS_AUDIENCE], caFile: bed.oidc.caFile }],
    identities: GITHUB_IDENTITIES,
  };
}

export interface ProxyBedOptions {
  /** Settings of the proxy over the bed's. */
  proxy?: Partial<ProxySettings>;
  /** The registry checks Basic auth from this htpasswd content; the proxy gets `upstreamCredentials`. */
  upstreamHtpasswd?: string;
  /** `user:password` for the proxy's --upstream-credentials-file. */
  upstreamCredentials?: string;
}

export async function startProxyBed(options: ProxyBedOptions = {}): Promise<ProxyBed> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-proxy-bed-'));
  const logs = captureLogs();
  const stopping = new StopSteps();
  const stop = async (): Promise<void> => {
    await stopping.run();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ca = createCertificateAuthority(mkdtempSync(join(dir, 'pki-')), 'kube-regcred proxy test root');
    const signer = issueCertificate(ca, { commonName: 'kube-regcred sts signer', keyType: 'ec', fileStem: 'signer' });
    const oidc = await startGithubOidc(ca);
    stopping.push(() => oidc.stop());
    const startSts = async (name: string, config: Record<string, unknown>): Promise<RunningSts> => {
      const configPath = join(dir, `${name}.yaml`);
      writeFileSync(configPath, toYaml(config));
      const sts = await startStsProcess(
        { configPath, listen: { host: '127.0.0.1', port: 0 }, ops: { host: '127.0.0.1', port: 0 }, shutdownGraceMs: 1_000, logLevel: 'debug' },
        { logDestination: logs.stream, watch: { pollIntervalMs: 0 } },
      );
      stopping.push(() => sts.stop());
      return sts;
    };
    // The proxy's port comes first: the sts configuration names it.
    const proxyPort = await freePort();
    const proxyHost = `127.0.0.1:${proxyPort}`;
    const sts = await startSts('sts', stsConfig({ signer, oidc, proxyHost }));
    const registry = await startRegistry(options.upstreamHtpasswd ? { auth: 'htpasswd', htpasswd: options.upstreamHtpasswd } : { auth: 'none' });
    let upstreamCredentialsFile: string | undefined;
    if (options.upstreamCredentials) {
      upstreamCredentialsFile = join(dir, 'upstream-credentials');
      writeFileSync(upstreamCredentialsFile, `${options.upstreamCredentials}\n`, { mode: 0o600 });
    }
    stopping.push(() => registry.stop());
    const proxy = await startProxyProcess(
      {
        upstream: new URL(registry.url),
        realm: `http://127.0.0.1:${sts.port}/token`,
        service: PROXY_SERVICE,
        tokenIssuer: PROXY_TOKEN_ISSUER,
        tokenJwksUrl: new URL(`http://127.0.0.1:${sts.port}/.well-known/jwks.json`),
        listen: { host: '127.0.0.1', port: proxyPort },
        ops: { host: '127.0.0.1', port: 0 },
        upstreamIdleTimeoutMs: 30_000,
        upstreamMaxSockets: 16,
        shutdownGraceMs: 1_000,
        logLevel: 'debug',
        ...(upstreamCredentialsFile ? { upstreamCredentialsFile } : {}),
        ...options.proxy,
      },
      { logDestination: logs.stream },
    );
    stopping.push(() => proxy.stop());
    const secrets: string[] = [];

    return {
      dir,
      registry,
      sts,
      proxy,
      proxyHost,
      oidc,
      signer,
      logs,
      secrets,
      async githubAuthfile(claims) {
        const jobToken = await oidc.sign(claims, STS_AUDIENCE);
        secrets.push(jobToken);
        const file = writeAuthfile(JSON.stringify({ auths: { [proxyHost]: { auth: Buffer.from(`github:${jobToken}`).toString('base64') } } }));
        stopping.push(async () => rmSync(dirname(file), { recursive: true, force: true }));
        return file;
      },
      async registryToken(claims, scopes) {
        const jobToken = await oidc.sign(claims, STS_AUDIENCE);
        secrets.push(jobToken);
        const query = new URLSearchParams({ service: PROXY_SERVICE });
        for (const scope of scopes) query.append('scope', scope);
        const res = await fetch(`http://127.0.0.1:${sts.port}/token?${query}`, {
          headers: { authorization: 'Basic ' + Buffer.from(`github:${jobToken}`).toString('base64') },
        });
        if (res.status !== 200) throw new Error(`sts /token answered ${res.status}: ${await res.text()}`);
        const { token } = (await res.json()) as { token: string };
        secrets.push(token);
        return token;
      },
      startOtherService: (service) => startSts(`sts-${service}`, stsConfig({ signer, oidc, proxyHost }, service)),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
