// Benchmark of `kube-regcred sts` /token on loopback: requests per second and p50/p99 latency for 1
// and 64 concurrent keep-alive clients, with ES256 and RS256 signing keys. The service runs as its
// own process (the real CLI), so the load generator does not share its event loop.
// Bounded: each case stops at its request count or its time budget, whichever comes first.
//   node bench/sts-token.ts            prints a markdown table, writes bench/results/sts-token.md
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { stringify as toYaml } from 'yaml';
import { createCertificateAuthority, issueCertificate } from '../test/support/pki.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICE = 'registry.bench.test';
const SCOPE = 'repository:bench/app:pull,push';

export interface StsBenchCase {
  alg: 'ES256' | 'RS256';
  concurrency: number;
}

export interface StsBenchRow extends StsBenchCase {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface StsBenchOptions {
  /** Requests per case after warm-up. */
  requests?: number;
  /** Time budget per case; the case stops early when it runs out. */
  maxSecondsPerCase?: number;
  warmupRequests?: number;
}

interface StartedSts {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startSts(dir: string, alg: 'ES256' | 'RS256', jwks: unknown): Promise<StartedSts> {
  const ca = createCertificateAuthority(mkdtempSync(join(dir, 'pki-')));
  const signer = issueCertificate(ca, { commonName: `bench ${alg}`, keyType: alg === 'ES256' ? 'ec' : 'rsa' });
  const configPath = join(dir, `sts-${alg}.yaml`);
  writeFileSync(
    configPath,
    toYaml({
      service: SERVICE,
      tokenIssuer: 'kube-regcred-sts-bench',
      signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle: 'x5c' },
      issuers: [{ name: 'bench', issuer: 'https://bench.issuer.test', audiences: ['sts'], jwks }],
      identities: [{ uid: 'bench', issuer: 'bench', subject: 'bench-client', grants: [{ repository: 'bench/**', actions: ['pull', 'push'] }] }],
    }),
  );
  const child = spawn(
    process.execPath,
    [join(ROOT, 'src/main.ts'), 'sts', '--config', configPath, '--listen-address', '127.0.0.1:0', '--ops-address', '127.0.0.1:0', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sts did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`sts exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'token service listening' && entry.port) {
        clearTimeout(timer);
        resolve(entry.port);
      }
    });
  });
  return {
    port,
    child,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function get(agent: Agent, port: number, path: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { authorization } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runCase(port: number, credential: string, benchCase: StsBenchCase, options: Required<StsBenchOptions>): Promise<StsBenchRow> {
  const agent = new Agent({ keepAlive: true, maxSockets: benchCase.concurrency });
  const path = `/token?service=${SERVICE}&scope=${encodeURIComponent(SCOPE)}`;
  try {
    for (let i = 0; i < options.warmupRequests; i++) await get(agent, port, path, credential);
    const latencies: number[] = [];
    let errors = 0;
    let issued = 0;
    const started = performance.now();
    const deadline = started + options.maxSecondsPerCase * 1000;
    const worker = async () => {
      while (issued < options.requests && performance.now() < deadline) {
        issued++;
        const t0 = performance.now();
        const status = await get(agent, port, path, credential);
        latencies.push(performance.now() - t0);
        if (status !== 200) errors++;
      }
    };
    await Promise.all(Array.from({ length: benchCase.concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((x, y) => x - y);
    return {
      ...benchCase,
      requests: latencies.length,
      seconds,
      requestsPerSecond: latencies.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      errors,
    };
  } finally {
    agent.destroy();
  }
}

/** Runs every case; each alg gets its own service process. */
export async function runStsTokenBench(options: StsBenchOptions = {}): Promise<StsBenchRow[]> {
  const settings: Required<StsBenchOptions> = {
    requests: options.requests ?? 5_000,
    maxSecondsPerCase: options.maxSecondsPerCase ?? 15,
    warmupRequests: options.warmupRequests ?? 200,
  };
  const dir = mkdtempSync(join(tmpdir(), 'sts-bench-'));
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] };
  const rows: StsBenchRow[] = [];
  try {
    for (const alg of ['ES256', 'RS256'] as const) {
      const sts = await startSts(dir, alg, jwks);
      try {
        const oidc = await new SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
          .setIssuer('https://bench.issuer.test')
          .setAudience('sts')
          .setSubject('bench-client')
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(privateKey);
        const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=bench`, { method: 'POST', headers: { authorization: `Bearer ${oidc}` } });
        if (res.status !== 200) throw new Error(`exchange failed with HTTP ${res.status}`);
        const { token } = (await res.json()) as { token: string };
        const credential = 'Basic ' + Buffer.from(`_token:${token}`).toString('base64');
        for (const concurrency of [1, 64]) rows.push(await runCase(sts.port, credential, { alg, concurrency }, settings));
      } finally {
        await sts.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function formatStsBenchTable(rows: readonly StsBenchRow[]): string {
  const lines = [
    '| signing | clients | requests | req/s | p50 ms | p99 ms | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) =>
      `| ${r.alg} | ${r.concurrency} | ${r.requests} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.errors} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}

if (import.meta.main) {
  const rows = await runStsTokenBench();
  const table = formatStsBenchTable(rows);
  const header = `# kube-regcred sts: /token on loopback\n\nGET /token with \`_token\` + an exchange token (verified once, then cached by hash), scope \`${SCOPE}\`, keep-alive connections; the service in its own Node process (${process.version}).\n\n`;
  process.stdout.write(table);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/sts-token.md'), header + table);
  if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
}
