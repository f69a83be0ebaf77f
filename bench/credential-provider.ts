// Benchmark of the kubelet credential provider as it ships (the single executable): wall time of one
// call, cold process to response, including the exchange with a real `kube-regcred sts` on loopback,
// and the process's peak RSS. Calls run one after another, as the kubelet's single-flight makes them
// for one ServiceAccount. Also the bare start of the same file (`--help`), to show what is Node's.
//   node bench/credential-provider.ts     prints a markdown table, writes bench/results/credential-provider.md
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { stringify as toYaml } from 'yaml';
import { buildCredentialProvider } from '../hack/build-credential-provider.ts';
import { startStsProcess } from '../src/cmd/sts.ts';
import { parseStsSettings } from '../src/sts/options.ts';
import { createCertificateAuthority, issueCertificate } from '../test/support/pki.ts';
import { percentile } from './sts-token.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const AUDIENCE = 'kube-regcred-bench';
const ISSUER = 'https://cluster.bench.test';
const REGISTRY = '127.0.0.1:5000';
export const GOAL_MS = 150;

export interface ProviderBenchRow {
  what: string;
  calls: number;
  p50Ms: number;
  p90Ms: number;
  maxMs: number;
  /** Peak RSS the process reported (KiB), largest over the calls; undefined when it reports none. */
  maxRssKiB: number | undefined;
  /** Median CPU time (user + system) the process reported up to its answer; less load-dependent than wall time. */
  cpuP50Ms: number | undefined;
  failures: number;
}

export interface ProviderBenchResult {
  rows: ProviderBenchRow[];
  fileBytes: number;
  bundleBytes: number;
}

interface Call {
  ms: number;
  ok: boolean;
  rssKiB: number | undefined;
  cpuMs: number | undefined;
}

/** One run; `answers`: it must print a CredentialProviderResponse to count as a success. */
function call(path: string, args: string[], stdin: string, answers: boolean): Promise<Call> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const rss = /"maxRssKiB":(\d+)/.exec(stderr)?.[1];
      const cpu = /"cpuMs":(\d+)/.exec(stderr)?.[1];
      const ok = code === 0 && (!answers || stdout.includes('"CredentialProviderResponse"'));
      resolve({ ms, ok, rssKiB: rss === undefined ? undefined : Number(rss), cpuMs: cpu === undefined ? undefined : Number(cpu) });
    });
    child.stdin.end(stdin);
  });
}

async function series(what: string, calls: number, warmup: number, run: () => Promise<Call>): Promise<ProviderBenchRow> {
  for (let i = 0; i < warmup; i++) await run();
  const results: Call[] = [];
  for (let i = 0; i < calls; i++) results.push(await run());
  const times = results.map((r) => r.ms).sort((a, b) => a - b);
  const rss = results.map((r) => r.rssKiB).filter((v): v is number => v !== undefined);
  const cpu = results.map((r) => r.cpuMs).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  return {
    what,
    calls,
    p50Ms: percentile(times, 50),
    p90Ms: percentile(times, 90),
    maxMs: times.at(-1)!,
    maxRssKiB: rss.length > 0 ? Math.max(...rss) : undefined,
    cpuP50Ms: cpu.length > 0 ? percentile(cpu, 50) : undefined,
    failures: results.filter((r) => !r.ok).length,
  };
}

export async function runCredentialProviderBench(calls = 40): Promise<ProviderBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-provider-bench-'));
  try {
    const built = await buildCredentialProvider(join(dir, 'bin'));
    // The cluster's ServiceAccount issuer, as a static JWKS: the bench measures the plugin, not an apiserver.
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] };
    const ca = createCertificateAuthority(mkdtempSync(join(dir, 'pki-')));
    const signer = issueCertificate(ca, { commonName: 'bench sts' });
    const configPath = join(dir, 'sts.yaml');
    writeFileSync(
      configPath,
      toYaml({
        service: 'registry.bench.test',
        tokenIssuer: 'kube-regcred-sts-bench',
        exchangeAudiences: [REGISTRY],
        signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle: 'x5c' },
        issuers: [{ name: 'cluster', issuer: ISSUER, audiences: [AUDIENCE], jwks }],
        identities: [{ uid: 'ns/bench', issuer: 'cluster', subjectPattern: 'system:serviceaccount:bench:*', grants: [{ repository: 'bench/**', actions: ['pull'] }] }],
      }),
    );
    const sts = await startStsProcess(parseStsSettings(['--config', configPath, '--listen-address', '127.0.0.1:0', '--ops-address', '127.0.0.1:0', '--log-level', 'warn'], {}), {
      logDestination: { write: () => true },
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      // What the kubelet sends: a Pod-bound token of the Pod's ServiceAccount with the provider's audience.
      const token = await new SignJWT({ 'kubernetes.io': { namespace: 'bench', serviceaccount: { name: 'app' } } })
        .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
        .setIssuer(ISSUER)
        .setSubject('system:serviceaccount:bench:app')
        .setAudience(AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(privateKey);
      const request = JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest', image: `${REGISTRY}/bench/app`, serviceAccountToken: token });
      const args = ['credential-provider', '--issuer-url', `http://127.0.0.1:${sts.port}`, '--audience', AUDIENCE, '--identity-template', 'ns/{namespace}', '--log-level', 'debug'];
      const rows = [
        await series('request → response (exchange on loopback)', calls, 3, () => call(built.path, args, request, true)),
        await series('bare start (`--help`)', Math.ceil(calls / 2), 2, () => call(built.path, ['--help'], '', false)),
        // For scale: the same Node binary doing nothing.
        await series('`node -e 0` (the runtime alone)', Math.ceil(calls / 2), 2, () => call(process.execPath, ['-e', '0'], '', false)),
      ];
      return { rows, fileBytes: built.bytes, bundleBytes: built.bundleBytes };
    } finally {
      await sts.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function renderCredentialProviderReport(result: ProviderBenchResult): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const lines = [
    '# kube-regcred credential-provider: one kubelet call',
    '',
    `The shipped single executable (${mib(result.fileBytes)} MiB: the npm \`node\` ${process.version} binary, stripped, with a ${(result.bundleBytes / 1024).toFixed(0)} KiB bundle and its V8 code cache), spawned per call as the kubelet does, request on stdin; the exchange goes to a real \`kube-regcred sts\` on loopback. Wall time is spawn to exit. Goal: under ${GOAL_MS} ms per call.`,
    '',
    '| what | calls | wall p50 ms | wall p90 ms | wall max ms | CPU p50 ms | peak RSS MiB | failures |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...result.rows.map((r) =>
      `| ${r.what} | ${r.calls} | ${r.p50Ms.toFixed(0)} | ${r.p90Ms.toFixed(0)} | ${r.maxMs.toFixed(0)} | ${r.cpuP50Ms === undefined ? 'n/a' : r.cpuP50Ms.toFixed(0)} | ${r.maxRssKiB === undefined ? 'n/a' : (r.maxRssKiB / 1024).toFixed(1)} | ${r.failures} |`,
    ),
    '',
    `Machine load when measured (1-minute load average / cores): ${loadavg()[0]!.toFixed(1)} / ${cpus().length}. Wall time on a busy machine is mostly waiting for a core; CPU time is what the call itself costs.`,
  ];
  return lines.join('\n') + '\n';
}

if (import.meta.main) {
  const result = await runCredentialProviderBench();
  const report = renderCredentialProviderReport(result);
  process.stdout.write(report);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/credential-provider.md'), report);
  if (result.rows.some((r) => r.failures > 0)) process.exitCode = 1;
}
