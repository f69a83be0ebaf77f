// Benchmark of `kube-regcred sts` /token on loopback, the service as it ships (compiled, with the sts
// Deployment's Node flags, its own process): CPU ms per issued token (the process's user+system time from
// /proc/<pid>/stat over the tokens issued), req/s, p50/p99 latency and peak RSS (VmHWM), for 1 and 64
// concurrent keep-alive clients. Credentials: `_token` + an exchange token (ES256 and RS256 signing), and
// a raw OIDC JWT from a static-JWKS issuer (the path the issue compared with jwt-registry-auth).
// Bounded: each case stops at its request count or its time budget, whichever comes first.
// Memory: where each process's RSS is (bench/process-memory.ts, from /proc/<pid>/smaps) at idle and after
// its cases, beside the floor on the same binary, flags and environment: bare node idling, and
// bench/sts-floor.mjs (only the per-token work) under the same cases.
//   node bench/sts-token.ts        (or `node bench/run.ts sts`): writes bench/results/sts-token.md
// Environment (diagnosis; results then go to the git-ignored bench/results/sts-token.md.tmp):
//   BENCH_STS_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/p"    Node flags beyond the shipped ones
//   BENCH_STS_HEAP_SNAPSHOT_DIR=/tmp/h                         a heap snapshot mid-way through each 64-client case
//   BENCH_STS_REQUESTS=n                                       requests per case (default 5000)
//   BENCH_STS_SCRIPT=/abs/path/main.js                         run another compiled build (A/B against an older commit)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { stringify as toYaml } from 'yaml';
import { createCertificateAuthority, issueCertificate } from '../test/support/pki.ts';
import { buildController } from './controller-process.ts';
import { formatBreakdownTable, readMemoryBreakdown, type MemoryBreakdown } from './process-memory.ts';
import { shippedStsEnv, shippedStsNodeFlags, startFloorProcess, startStsProcess, type FloorProcess } from './sts-process.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICE = 'registry.bench.test';
const SCOPE = 'repository:bench/app:pull,push';
const OIDC_ISSUER = 'https://bench.issuer.test';

export type Credential = '_token' | 'oidc';

export interface StsBenchCase {
  alg: 'ES256' | 'RS256';
  credential: Credential;
  concurrency: number;
}

export interface StsBenchRow extends StsBenchCase {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** The sts process's user+system CPU over the case, per 200 answer. */
  cpuMsPerToken: number;
  /** VmHWM of the sts process at the end of the case (peak since it started). */
  peakRssMiB: number;
  /** RSS at the end of the case: anonymous (heap) and file-backed (node's code) pages. */
  rssAnonMiB: number;
  rssFileMiB: number;
}

export interface StsBenchOptions {
  /** Requests per case after warm-up. */
  requests?: number;
  /** Time budget per case; the case stops early when it runs out. */
  maxSecondsPerCase?: number;
  warmupRequests?: number;
  nodeFlags?: readonly string[];
  heapSnapshotDir?: string;
  /** A main.js compiled elsewhere (an A/B against an older build); default: build this checkout. */
  script?: string;
}

export interface StsBenchRun {
  rows: StsBenchRow[];
  /** bench/sts-floor.mjs under the ES256 process's cases (`alg` ES256, the request it would answer). */
  floorRows: StsBenchRow[];
  nodeFlags: string[];
  /** The Deployment's process environment the sts ran with (shippedStsEnv). */
  env: Record<string, string>;
  /** RSS of each sts process once it is ready, before any request. */
  idleRssMiB: Record<string, number>;
  /** Where the RSS is, per process and moment (idle, after its cases), the floor's included. */
  memory: Array<{ label: string; breakdown: MemoryBreakdown }>;
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

async function runCase(sts: FloorProcess, authorization: string, benchCase: StsBenchCase, options: Required<Omit<StsBenchOptions, 'heapSnapshotDir' | 'script'>> & { heapSnapshotDir?: string }): Promise<StsBenchRow> {
  const agent = new Agent({ keepAlive: true, maxSockets: benchCase.concurrency });
  const path = `/token?service=${SERVICE}&scope=${encodeURIComponent(SCOPE)}`;
  try {
    for (let i = 0; i < options.warmupRequests; i++) await get(agent, sts.port, path, authorization);
    const latencies: number[] = [];
    let errors = 0;
    let issued = 0;
    let snapshotTaken = options.heapSnapshotDir === undefined || benchCase.concurrency === 1;
    const cpuBefore = sts.cpuMs();
    const started = performance.now();
    const deadline = started + options.maxSecondsPerCase * 1000;
    const worker = async () => {
      while (issued < options.requests && performance.now() < deadline) {
        issued++;
        if (!snapshotTaken && issued >= options.requests / 2) {
          snapshotTaken = true;
          sts.signal('SIGUSR2');
        }
        const t0 = performance.now();
        const status = await get(agent, sts.port, path, authorization);
        latencies.push(performance.now() - t0);
        if (status !== 200) errors++;
      }
    };
    await Promise.all(Array.from({ length: benchCase.concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    const cpuMs = sts.cpuMs() - cpuBefore;
    latencies.sort((x, y) => x - y);
    const tokens = latencies.length - errors;
    return {
      ...benchCase,
      requests: latencies.length,
      seconds,
      requestsPerSecond: latencies.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      errors,
      cpuMsPerToken: tokens > 0 ? cpuMs / tokens : NaN,
      peakRssMiB: sts.memory().peakRssMiB,
      rssAnonMiB: sts.rssSplit().anonMiB,
      rssFileMiB: sts.rssSplit().fileMiB,
    };
  } finally {
    agent.destroy();
  }
}

function basic(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
}

/** Runs every case; each signing algorithm gets its own service process. */
export async function runStsTokenBench(options: StsBenchOptions = {}): Promise<StsBenchRun> {
  const settings = {
    requests: options.requests ?? 5_000,
    maxSecondsPerCase: options.maxSecondsPerCase ?? 15,
    warmupRequests: options.warmupRequests ?? 500,
    nodeFlags: options.nodeFlags ?? [],
    ...(options.heapSnapshotDir ? { heapSnapshotDir: options.heapSnapshotDir } : {}),
  };
  const nodeBinary = join(ROOT, 'node_modules', '.bin', 'node');
  const nodeFlags = [...shippedStsNodeFlags(ROOT), ...settings.nodeFlags];
  if (settings.heapSnapshotDir) nodeFlags.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${settings.heapSnapshotDir}`);
  const dir = mkdtempSync(join(tmpdir(), 'sts-bench-'));
  const outDirName = '.build-bench-sts';
  const env = shippedStsEnv(ROOT);
  const run: StsBenchRun = { rows: [], floorRows: [], nodeFlags, env, idleRssMiB: {}, memory: [] };
  try {
    const script = options.script ?? buildController(ROOT, nodeBinary, outDirName);
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' }] };
    // One OIDC token for the whole run, as a CI job presents the same token for each pull of a job.
    const oidc = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
      .setIssuer(OIDC_ISSUER)
      .setAudience('sts')
      .setSubject('bench-client')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
    const ca = createCertificateAuthority(mkdtempSync(join(dir, 'pki-')));
    // The floor answers the ES256 process's requests, credentials included (it only hashes them).
    let floorCredentials: Record<Credential, string> | undefined;
    for (const alg of ['ES256', 'RS256'] as const) {
      const signer = issueCertificate(ca, { commonName: `bench ${alg}`, keyType: alg === 'ES256' ? 'ec' : 'rsa' });
      const configPath = join(dir, `sts-${alg}.yaml`);
      writeFileSync(
        configPath,
        toYaml({
          service: SERVICE,
          tokenIssuer: 'kube-regcred-sts-bench',
          signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle: 'x5c' },
          issuers: [{ name: 'bench', issuer: OIDC_ISSUER, audiences: ['sts'], jwks }],
          identities: [{ uid: 'bench', issuer: 'bench', subject: 'bench-client', grants: [{ repository: 'bench/**', actions: ['pull', 'push'] }] }],
        }),
      );
      const sts = await startStsProcess({ root: ROOT, nodeBinary, script, configPath, nodeFlags, env, logFile: join(dir, `sts-${alg}.log`) });
      try {
        run.idleRssMiB[alg] = sts.memory().rssMiB;
        run.memory.push({ label: `sts ${alg} idle`, breakdown: readMemoryBreakdown(sts.pid) });
        const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=bench`, { method: 'POST', headers: { authorization: `Bearer ${oidc}` } });
        if (res.status !== 200) throw new Error(`exchange failed with HTTP ${res.status}`);
        const { token } = (await res.json()) as { token: string };
        const credentials: Record<Credential, string> = { _token: basic('_token', token), oidc: basic('bench', oidc) };
        floorCredentials = credentials;
        // RS256 only for the `_token` path: the OIDC verification does not depend on the signing key.
        for (const credential of alg === 'ES256' ? (['_token', 'oidc'] as const) : (['_token'] as const)) {
          for (const concurrency of [1, 64]) run.rows.push(await runCase(sts, credentials[credential], { alg, credential, concurrency }, settings));
        }
        run.memory.push({ label: `sts ${alg} after its cases`, breakdown: readMemoryBreakdown(sts.pid) });
      } finally {
        await sts.stop();
      }
      if (alg === 'ES256' && floorCredentials) {
        // The floor on the same binary, flags and environment, under the ES256 process's cases.
        const bare = await startFloorProcess({ root: ROOT, nodeBinary, nodeFlags, env, logFile: join(dir, 'bare-node.log') });
        try {
          run.memory.push({ label: 'bare node idle', breakdown: readMemoryBreakdown(bare.pid) });
        } finally {
          await bare.stop();
        }
        const floor = await startFloorProcess({ root: ROOT, nodeBinary, nodeFlags, env, logFile: join(dir, 'floor.log'), script: join(ROOT, 'bench', 'sts-floor.mjs') });
        try {
          run.memory.push({ label: 'floor idle', breakdown: readMemoryBreakdown(floor.pid) });
          for (const credential of ['_token', 'oidc'] as const) {
            for (const concurrency of [1, 64]) run.floorRows.push(await runCase(floor, floorCredentials[credential], { alg, credential, concurrency }, { ...settings, heapSnapshotDir: undefined }));
          }
          run.memory.push({ label: 'floor after the cases', breakdown: readMemoryBreakdown(floor.pid) });
        } finally {
          await floor.stop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(ROOT, outDirName), { recursive: true, force: true });
  }
  return run;
}

/** Goals of issue 16 (static trust, ES256 signing): CPU/token, p99, peak RSS. */
export const STS_GOALS = { cpuMsPerToken1: 0.4, cpuMsPerToken64: 0.45, p99Ms64: 80, peakRssMiB: 64 } as const;

export function formatStsBenchTable(rows: readonly StsBenchRow[]): string {
  const lines = [
    '| signing | credential | clients | requests | req/s | p50 ms | p99 ms | CPU ms/token | peak RSS MiB | RSS anon / file MiB | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) =>
      `| ${r.alg} | ${r.credential} | ${r.concurrency} | ${r.requests} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.cpuMsPerToken.toFixed(3)} | ${r.peakRssMiB.toFixed(1)} | ${r.rssAnonMiB.toFixed(1)} / ${r.rssFileMiB.toFixed(1)} | ${r.errors} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}

/** One line per goal, for the ES256 rows (the issue's comparison): measured figure and whether it is met. */
export function formatStsGoals(rows: readonly StsBenchRow[]): string {
  const es = rows.filter((r) => r.alg === 'ES256');
  const worst = (pick: (r: StsBenchRow) => number, filter: (r: StsBenchRow) => boolean) => Math.max(...es.filter(filter).map(pick));
  const goals = [
    ['CPU ms per token, 1 client (worst credential)', worst((r) => r.cpuMsPerToken, (r) => r.concurrency === 1), STS_GOALS.cpuMsPerToken1, 3],
    ['CPU ms per token, 64 clients (worst credential)', worst((r) => r.cpuMsPerToken, (r) => r.concurrency === 64), STS_GOALS.cpuMsPerToken64, 3],
    ['p99 ms, 64 clients (worst credential)', worst((r) => r.p99Ms, (r) => r.concurrency === 64), STS_GOALS.p99Ms64, 1],
    ['peak RSS MiB under load', Math.max(...rows.map((r) => r.peakRssMiB)), STS_GOALS.peakRssMiB, 1],
  ] as const;
  return [
    '| goal (ES256; RSS: every process) | measured | limit | met |',
    '|---|---:|---:|---|',
    ...goals.map(([name, value, limit, digits]) => `| ${name} | ${value.toFixed(digits)} | ${limit} | ${value <= limit ? 'yes' : 'NO'} |`),
  ].join('\n') + '\n';
}

if (import.meta.main) {
  const extraFlags = (process.env.BENCH_STS_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
  const heapSnapshotDir = process.env.BENCH_STS_HEAP_SNAPSHOT_DIR || undefined;
  const script = process.env.BENCH_STS_SCRIPT || undefined;
  const trial = extraFlags.length > 0 || heapSnapshotDir !== undefined || process.env.BENCH_STS_REQUESTS !== undefined || script !== undefined;
  const loadBefore = (await import('node:os')).loadavg()[0]!.toFixed(1);
  const requests = Number(process.env.BENCH_STS_REQUESTS ?? '5000');
  const run = await runStsTokenBench({ requests, nodeFlags: extraFlags, ...(script ? { script } : {}), ...(heapSnapshotDir ? { heapSnapshotDir } : {}) });
  const table = formatStsBenchTable(run.rows);
  const goals = formatStsGoals(run.rows);
  const header = [
    '# kube-regcred sts: /token on loopback',
    '',
    `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${(await import('node:os')).cpus().length} cores (shared with the load generator), load average before the run ${loadBefore}.`,
    `The sts as it ships: compiled by \`npm run build\`, \`${[...Object.entries(run.env).map(([k, v]) => `${k}=${v}`), 'node', ...run.nodeFlags].join(' ')} main.js sts\` (flags and environment from manifests/components/sts/sts-deployment.yaml), NODE_ENV=production, its own process.`,
    `GET /token, scope \`${SCOPE}\`, keep-alive connections; \`_token\` = an exchange token as the password, \`oidc\` = a raw ES256 OIDC JWT from a static-JWKS issuer (the same token on every request).`,
    'CPU ms/token: the sts process\'s user+system time (/proc/<pid>/stat) over the case, per token issued. Peak RSS: VmHWM at the end of the case.',
    `Idle RSS before the first request: ${Object.entries(run.idleRssMiB).map(([alg, mib]) => `${alg} ${mib.toFixed(1)} MiB`).join(', ')}.`,
    '',
  ].join('\n');
  const floor = [
    '## Floor: bare Node doing only the per-token work',
    '',
    'bench/sts-floor.mjs on the same binary, flags and environment, under the ES256 process\'s cases (same requests, same clients): an HTTP server that hashes the credential, signs an ES256 JWT of the sts\'s size with node:crypto and answers the same JSON; no configuration, logger, metrics or framework. The sts can not be leaner than this.',
    '',
    formatStsBenchTable(run.floorRows),
  ].join('\n');
  const memory = [
    '## Memory: where the RSS is',
    '',
    'Resident MiB by owner, from /proc/<pid>/smaps (bench/process-memory.ts): file-backed pages of the node binary (its code and read-only data: shared, reclaimable, but counted in RSS and VmHWM) and of shared libraries; anonymous pages told apart by shape (V8 heap pages are 256 KiB-aligned, V8 code is one reserved executable range, glibc malloc\'s thread arenas are 64 MiB-aligned heaps, its main arena is [heap]). "Bare node idle" is `node -e \'setInterval(() => {}, 1000)\'` with the same flags and environment.',
    '',
    formatBreakdownTable(run.memory),
  ].join('\n');
  const body = `${header}\n${table}\n${goals}\n${floor}\n${memory}`;
  process.stdout.write(`${table}\n${goals}\n${floor}\n${memory}`);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  // The profile section is kept from the previous file (written by hand from `--cpu-prof` runs and
  // smaps/heap-snapshot readings, each saying how it was obtained).
  const target = join(ROOT, 'bench/results', trial ? 'sts-token.md.tmp' : 'sts-token.md');
  let profile = '';
  try {
    const previous = (await import('node:fs')).readFileSync(join(ROOT, 'bench/results/sts-token.md'), 'utf8');
    const at = previous.indexOf('\n## Profile');
    if (at >= 0) profile = previous.slice(at);
  } catch {
    // no previous file
  }
  writeFileSync(target, body + profile);
  if (run.rows.some((r) => r.errors > 0)) process.exitCode = 1;
}
