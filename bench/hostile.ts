// `npm run bench -- hostile` (issue 17, failure 3): the bench workload (5,000 annotated Secrets in 250
// namespaces, 20,000 unrelated 8 KiB Secrets) plus 1,000 hostile annotated Secrets of 1 MiB each; half
// of them exist when the controller starts (its LIST reads them), half are created while it runs (its
// WATCH reads them). Measured: the controller's peak RSS against the shipped 256 Mi limit, whether every
// valid Secret got a token and then kept a live one (sampled every second from the bench's watch while
// the hostile ones are being reported, and one full refresh cycle after), what the hostile Secrets were
// told (last-error, Events, the error metric), how long reporting them all took, and the LIST/WATCH
// requests and bytes of the quiet refresh cycle (issue 16).
// Writes bench/results/hostile.md (and .json); BENCH_SCALE / BENCH_HOSTILE=n make a trial (.tmp files).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane } from '../test/support/control-plane.ts';
import { startTcpProxy } from '../test/support/tcp-proxy.ts';
import { buildController, shippedNodeFlags } from './controller-process.ts';
import { describeEnvironment } from './environment.ts';
import { createHostileNamespaces, createHostileSecrets, planHostile, readHostileStatus, HOSTILE_BYTES } from './hostile-workload.ts';
import { renderHostileReport, type HostileResults } from './hostile-report.ts';
import { createKubeHttp } from './kube-http.ts';
import { coldStart, refreshCycle, type BenchContext } from './measure.ts';
import { sumSamples } from './prom-text.ts';
import { createSecretWatch } from './secret-watch.ts';
import { createControllerIdentity, REGISTRY, startBenchSts } from './setup.ts';
import { snapshotTraffic, trafficBetween } from './traffic.ts';
import { sampleTokenCoverage } from './token-coverage.ts';
import { createManagedSecrets, createNamespaces, createUnrelatedSecrets, FULL_WORKLOAD, planWorkload, WATCHED_SELECTOR } from './workload.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodeBinary = process.execPath;
const scale = Number(process.env.BENCH_SCALE ?? '1');
const hostileCount = Number(process.env.BENCH_HOSTILE ?? '1000');
const CREATE_CONCURRENCY = 16;
const HOSTILE_CONCURRENCY = 4;
/** Long enough for the cold start and the hostile half to end before the first refresh (at ~45-50 % of it). */
const TOKEN_LIFETIME_SECONDS = 240;
/** The shipped Deployment's memory limit (manifests/base/deployment.yaml). */
const LIMIT_MIB = 256;

const began = Date.now();
/** Per run: a trial beside a full run must not remove the other's compiled controller. */
const buildDir = `.build-bench-hostile-${process.pid}`;
const log = (message: string) => process.stdout.write(`[hostile ${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);

async function main(): Promise<number> {
  if (!(scale > 0 && scale <= 1) || !(Number.isInteger(hostileCount) && hostileCount >= 2)) throw new Error('BENCH_SCALE must be in (0, 1], BENCH_HOSTILE a whole number ≥ 2');
  const trial = scale !== 1 || hostileCount !== 1000;
  const namespaces = Math.max(1, Math.round(FULL_WORKLOAD.namespaces * scale));
  const shape = { ...FULL_WORKLOAD, namespaces, unrelated: Math.round((FULL_WORKLOAD.unrelated * scale) / 2) * 2, probes: 0 };
  const workload = planWorkload(shape);
  const hostile = planHostile(workload, hostileCount);
  const logDir = mkdtempSync(join(tmpdir(), 'kube-regcred-hostile-logs-'));
  const privateDir = mkdtempSync(join(tmpdir(), 'kube-regcred-hostile-'));
  let keepLogs = process.env.BENCH_KEEP_LOGS === '1';
  process.once('exit', () => {
    rmSync(privateDir, { recursive: true, force: true });
    rmSync(join(root, buildDir), { recursive: true, force: true });
    if (!keepLogs) rmSync(logDir, { recursive: true, force: true });
  });
  log(`${workload.managed.length} annotated + ${shape.unrelated} unrelated + ${hostileCount} hostile Secrets of ${HOSTILE_BYTES} bytes; logs in ${logDir}`);

  // The hostile data is stored twice (created, then its status written): more than etcd's default 2 GiB quota.
  const cp = await startControlPlane({ etcdQuotaBackendBytes: 8 * 2 ** 30 });
  cp.releaseAtExit();
  const admin = createKubeHttp({ server: cp.server, caPem: cp.caPem, token: cp.adminToken, maxSockets: CREATE_CONCURRENCY });
  const env = await describeEnvironment(nodeBinary, admin);
  const sts = await startBenchSts(cp, workload.identities, TOKEN_LIFETIME_SECONDS);
  const watch = createSecretWatch({ http: admin, labelSelector: WATCHED_SELECTOR, registry: REGISTRY });
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(cp.server).port) });
  const results: HostileResults = { env, shape, hostile: hostileCount, hostileBytes: HOSTILE_BYTES, tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, limitMiB: LIMIT_MIB, creation: {}, refreshes: [], failures: [], notes: [], totalSeconds: 0 };
  if (trial) results.notes.push(`BENCH_SCALE=${scale}, BENCH_HOSTILE=${hostileCount}: a trial, NOT the issue's figures.`);
  let stopController: (() => Promise<void>) | undefined;
  let controllerMemory: (() => NonNullable<HostileResults['end']>) | undefined;
  try {
    const identity = await createControllerIdentity(root, cp, admin, workload.managedNames, privateDir);
    // The controller reaches the apiserver through the counting proxy (same certificate: it names 127.0.0.1).
    writeFileSync(identity.kubeconfig, readFileSync(identity.kubeconfig, 'utf8').replaceAll(cp.server, `https://127.0.0.1:${proxy.port}`), { mode: 0o600 });
    const controllerNodeFlags = shippedNodeFlags(root);
    const controllerScript = buildController(root, nodeBinary, buildDir);
    const ctx: BenchContext = { root, nodeBinary, cp, admin, sts, watch, workload, identity, concurrency: 4, logDir, controllerNodeFlags, controllerScript, graceMs: 3000, log };
    results.controllerNodeFlags = controllerNodeFlags;

    const timed = async (what: string, count: number, work: () => Promise<void>) => {
      const start = Date.now();
      await work();
      results.creation[what] = { count, seconds: (Date.now() - start) / 1000 };
      log(`${what}: ${count} in ${results.creation[what]!.seconds.toFixed(1)} s`);
    };
    const half = Math.floor(hostileCount / 2);
    await timed('namespaces', shape.namespaces + hostile.namespaces.length, async () => {
      await createNamespaces(admin, workload, CREATE_CONCURRENCY);
      await createHostileNamespaces(admin, hostile);
    });
    await timed('annotated Secrets', workload.managed.length, () => createManagedSecrets(admin, workload, CREATE_CONCURRENCY));
    await timed('unrelated Secrets (8 KiB)', shape.unrelated, () => createUnrelatedSecrets(admin, workload, CREATE_CONCURRENCY));
    await timed('hostile Secrets before the controller starts', half, () => createHostileSecrets(admin, hostile.secrets.slice(0, half), HOSTILE_CONCURRENCY));
    await watch.start();

    const cold = await coldStart(ctx, 'cold start', 'controller.log', 600_000);
    stopController = () => cold.proc.stop();
    controllerMemory = () => ({ memory: cold.proc.memory(), heap: cold.proc.heap() });
    results.coldStart = { cycle: cold.cycle, memory: cold.memory, heap: cold.heap };
    log(`cold start: ${cold.cycle.seconds.toFixed(1)} s, peak RSS ${cold.memory.peakRssMiB.toFixed(0)} MiB`);
    // From here on, every second: does each valid Secret hold a live token? (Its refreshes go on while
    // hostile Secrets arrive and the controller works through them, each a 1 MiB PATCH for its last-error.)
    const coverage = sampleTokenCoverage(watch);
    const writesBefore = watch.counts().tokenWrites;
    await timed('hostile Secrets while the controller runs', hostileCount - half, () => createHostileSecrets(admin, hostile.secrets.slice(half), HOSTILE_CONCURRENCY));
    const createdAllAt = Date.now();
    const tooLarge = async () => sumSamples(await cold.proc.metrics(), 'kube_regcred_errors_total', { code: 'DockerConfigTooLarge' });
    try {
      for (;;) {
        // A busy controller may miss one /metrics scrape (30 s): the next second asks again.
        const counted = await tooLarge().catch(() => 0);
        if (counted >= hostileCount) break;
        if (Date.now() - createdAllAt > 1_800_000) throw new Error(`only ${counted} of ${hostileCount} hostile Secrets reported 30 min after the last was created`);
        await sleep(1000);
      }
      results.allReportedSeconds = (Date.now() - createdAllAt) / 1000;
      results.tokenWritesWhileReporting = watch.counts().tokenWrites - writesBefore;
      log(`every hostile Secret reported, ${results.allReportedSeconds.toFixed(0)} s after the last was created; RSS peak ${cold.proc.memory().peakRssMiB.toFixed(0)} MiB`);
      // A quiet cycle (every hostile Secret reported) for the traffic figure; two lifetimes, so a round
      // that had begun before it still completes inside it.
      const before = await snapshotTraffic(admin, proxy);
      const quiet = await refreshCycle(ctx, cold.proc, 2 * TOKEN_LIFETIME_SECONDS * 1000);
      results.refreshes.push({ label: 'refresh after every hostile Secret was reported', cycle: quiet, traffic: trafficBetween(before, await snapshotTraffic(admin, proxy)), hostileReportedDuring: 0 });
      log(`quiet refresh: ${quiet.seconds.toFixed(1)} s, ${quiet.writes.changedSecrets} Secrets with a new token`);
    } finally {
      results.coverage = coverage.stop();
      results.tokenWritesWhileReporting ??= watch.counts().tokenWrites - writesBefore;
    }
    results.end = { memory: cold.proc.memory(), heap: cold.proc.heap() };
    results.metricTooLarge = sumSamples(await cold.proc.metrics(), 'kube_regcred_errors_total', { code: 'DockerConfigTooLarge' });
    results.status = await readHostileStatus(admin, hostile);
  } catch (err) {
    results.failures.push((err as Error).message);
    results.end ??= controllerMemory?.();
    log(`FAILED: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await stopController?.().catch(() => undefined);
    watch.stop();
  }
  results.totalSeconds = (Date.now() - began) / 1000;
  await sts.stop();
  await proxy.stop();
  const keepAlive = setInterval(() => undefined, 1000);
  await cp.stop().finally(() => clearInterval(keepAlive));
  admin.close();

  const report = renderHostileReport(results);
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const suffix = trial ? '.tmp' : '';
  writeFileSync(join(dir, `hostile.md${suffix}`), report);
  writeFileSync(join(dir, `hostile.json${suffix}`), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${report}\nwritten to bench/results/hostile.md${suffix}\n`);
  keepLogs ||= results.failures.length > 0;
  if (keepLogs) log(`controller logs kept in ${logDir}`);
  if (results.failures.length > 0) return 2;
  return (results.end?.memory.peakRssMiB ?? Infinity) < LIMIT_MIB ? 0 : 1;
}

if (import.meta.main) {
  process.exit(await main().catch((err: unknown) => {
    process.stderr.write(`bench hostile: ${(err as Error).stack ?? String(err)}\n`);
    return 2;
  }));
}
