// `npm run bench`: the controller benchmark of issues 6 and 16 on its own control plane (50,000 managed
// Secrets in 2,500 namespaces beside 20,000 unrelated: the goals' workload), then the token-service
// benchmark (bench/sts-token.ts) when it exists, then the proxy streaming benchmark (bench/proxy-stream.ts)
// and the credential provider's (bench/credential-provider.ts), and the image's size (bench/image.ts).
// `npm run bench -- controller` runs only the controller benchmark (bench/results/controller.md);
// `npm run bench -- controller-5k` the same phases on the quicker set of earlier runs, 5,000 managed
// Secrets in 250 namespaces beside the same 20,000 (bench/results/controller-5k.md; no goals: they are
// for 50,000);
// `npm run bench -- sts` runs only the token-service benchmark (no control plane, a minute or two);
// `npm run bench -- image` only the image's size (seconds once hack/build-image.sh has built it);
// `npm run bench -- hostile` only the hostile-tenant bench (bench/hostile.ts: 1,000 Secrets of 1 MiB
// beside the workload, 15-25 minutes; bench/results/hostile.md). Writes bench/results/controller.md (and .json), prints
// the table, and exits non-zero when a cycle takes more than one exchange per identity or one
// TokenRequest per audience (2 when the run itself failed).
//
// Environment:
//   BENCH_CONCURRENCY                 controller --concurrency and the baseline's (default 4, the controller's default)
//   BENCH_SCALE=f (0 < f ≤ 1)         a reduced workload for a quick try (written to git-ignored .tmp files):
//                                     namespaces and unrelated Secrets × f
//   BENCH_KEEP_LOGS=1                 keep the controller logs (kept anyway when the run fails)
//   BENCH_CONTROLLER_NODE_FLAGS       Node flags for the controller beyond the shipped Deployment's, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
//                                     (diagnosis; written to .tmp files like BENCH_SCALE)
//   BENCH_QUICK=1                     only the interleaved cold starts and baselines on the loaded cluster (an A/B
//                                     of a change in minutes; no memory points, refresh, latency or restart)
//   BENCH_CONTROLLER_ARGS             controller flags beyond the bench's, e.g. "--concurrency 8" (diagnosis; not --log-level
//                                     above info: the bench reads the ops port from the "controller starting" info line)
//   KUBE_REGCRED_BUILD_READABLE=1     the controller built unminified, so such a profile names functions as the sources do
//                                     (diagnosis; written to .tmp files like BENCH_SCALE)
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_REFRESH_SCHEDULE } from '../src/token/refresh-time.ts';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../test/support/control-plane.ts';
import { runBaseline, type BaselineRun } from './baseline.ts';
import type { BaselineConfig } from './baseline-body.ts';
import { runChild } from './children.ts';
import { buildController, shippedMemoryLimit, shippedNodeFlags, type ControllerProcess } from './controller-process.ts';
import { describeEnvironment } from './environment.ts';
import { createKubeHttp } from './kube-http.ts';
import { measureListCost } from './list-cost.ts';
import { annotateLatency, apiserverCpuSeconds, coldStart, idleController, refreshCycle, restart, type BenchContext } from './measure.ts';
import { limitViolations, renderReport, type BenchResults, type ColdStartSummary, type WorkloadSet } from './report.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiserverCostBetween, snapshotApiserver } from './apiserver-cost.ts';
import { createInformerTwin } from './informer-twin.ts';
import { createSecretWatch } from './secret-watch.ts';
import { createControllerIdentity, REGISTRY, startBenchSts } from './setup.ts';
import {
  createManagedSecrets,
  createNamespaces,
  createProbeSecrets,
  createUnrelatedSecrets,
  FULL_WORKLOAD,
  GOAL_WORKLOAD,
  MANAGED_SELECTOR,
  planWorkload,
  resetManagedSecrets,
  WATCHED_SELECTOR,
  type WorkloadShape,
} from './workload.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = join(root, 'bench', 'results');
const nodeBinary = existsSync(join(root, 'node_modules', '.bin', 'node')) ? join(root, 'node_modules', '.bin', 'node') : process.execPath;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? '4');
if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error(`BENCH_CONCURRENCY must be a whole number ≥ 1, got ${process.env.BENCH_CONCURRENCY}`);
const scale = Number(process.env.BENCH_SCALE ?? '1');
const CREATE_CONCURRENCY = 16;
const UNLOADED_TOKEN_LIFETIME_SECONDS = 3600;
const GRACE_MS = 3000;
/** Cold starts and baselines of the loaded cluster, interleaved controller/baseline (a/b/a/b/a/b): the figures are their medians. */
const RUNS = 3;
const quick = process.env.BENCH_QUICK === '1';

const SETS: Record<WorkloadSet, WorkloadShape> = { goal: GOAL_WORKLOAD, '5k': FULL_WORKLOAD };

function shapeFor(base: WorkloadShape, f: number): WorkloadShape {
  if (!(f > 0 && f <= 1)) throw new Error(`BENCH_SCALE must be in (0, 1], got ${f}`);
  const namespaces = Math.max(1, Math.round(base.namespaces * f));
  return {
    ...base,
    namespaces,
    unrelated: Math.round((base.unrelated * f) / 2) * 2,
    probes: Math.min(namespaces, base.probes, Math.max(10, Math.round(base.probes * f))),
  };
}

/** The earliest a token living `lifetimeSeconds` falls due under the controller's default policy (largest jitter). */
export function earliestDueSeconds(lifetimeSeconds: number): number {
  const { remainingFraction, minMarginMs, jitterFraction } = DEFAULT_REFRESH_SCHEDULE;
  const lead = Math.max(lifetimeSeconds * remainingFraction, Math.min(minMarginMs / 1000, lifetimeSeconds / 2));
  return lifetimeSeconds - Math.min(lead * (1 + jitterFraction), lifetimeSeconds * 0.9);
}

/**
 * The registry token lifetime of the run that goes on to a refresh cycle: the shortest (in steps of
 * 10 s, at least 180 s) whose earliest refresh comes after 1.3 × the slowest cold start measured before
 * it plus 30 s, so the cold start ends before any token falls due and the wait after it stays short.
 */
export function refreshLifetimeSeconds(expectedColdStartSeconds: number): number {
  const needed = 1.3 * expectedColdStartSeconds + 30;
  let lifetime = 180;
  while (earliestDueSeconds(lifetime) < needed) lifetime += 10;
  return lifetime;
}

const began = Date.now();

/**
 * Ctrl-C / SIGTERM: write what was measured so far to a git-ignored `<name>-partial.md.tmp` (a long run
 * stopped at a deadline still leaves its figures), stop what the bench started (the control plane
 * gracefully, so its etcd data in /dev/shm goes too), then exit 130; the exit handlers of process.ts
 * and children.ts SIGKILL the controller and any child still running. A second signal exits at once.
 */
let interrupted = false;
const onInterrupt: Array<() => Promise<void>> = [];
let writePartial: (() => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}: stopping every process it started (again to exit at once)\n`);
    try {
      writePartial?.();
    } catch (err) {
      process.stderr.write(`bench: the partial results could not be written: ${(err as Error).message}\n`);
    }
    // The 20 s race below also keeps the event loop alive while unref'd components stop.
    const stopAll = (async () => {
      for (const stop of onInterrupt.reverse()) await stop().catch(() => undefined);
    })();
    void Promise.race([stopAll, new Promise((resolve) => setTimeout(resolve, 20_000))]).finally(() => process.exit(130));
  });
}
const log = (message: string) => process.stdout.write(`[bench ${((Date.now() - began) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
const timed = async <T>(what: string, work: () => Promise<T>): Promise<{ value: T; seconds: number }> => {
  const start = Date.now();
  const value = await work();
  const seconds = (Date.now() - start) / 1000;
  log(`${what}: ${seconds.toFixed(1)} s`);
  return { value, seconds };
};
// The process handle stays out of the results (they are written as JSON).
const summary = ({ proc: _proc, ...reported }: Awaited<ReturnType<typeof coldStart>>): ColdStartSummary => reported;

/**
 * The controller benchmark on `set` (then, with `others`, the other benches). A reduced (BENCH_SCALE) or
 * instrumented run writes git-ignored .tmp files, never the figures.
 */
async function main(set: WorkloadSet, others: boolean): Promise<number> {
  const shape = shapeFor(SETS[set], scale);
  const workload = planWorkload(shape);
  const logDir = mkdtempSync(join(tmpdir(), 'kube-regcred-bench-logs-'));
  // Removed at any exit (Ctrl-C included) unless asked for, or kept below because the run failed.
  let keepLogs = process.env.BENCH_KEEP_LOGS === '1';
  // The controller's kubeconfig holds a ServiceAccount token: its directory goes at any exit.
  const privateDir = mkdtempSync(join(tmpdir(), 'kube-regcred-bench-'));
  process.once('exit', () => {
    rmSync(privateDir, { recursive: true, force: true });
    rmSync(join(root, '.build-bench'), { recursive: true, force: true });
    if (!keepLogs) rmSync(logDir, { recursive: true, force: true });
  });
  log(`workload: ${workload.managed.length} annotated Secrets in ${shape.namespaces} namespaces, ${shape.unrelated} unrelated, concurrency ${concurrency}; logs in ${logDir}`);

  // 50,000 Secrets rewritten a dozen times (resets, cold starts, baselines, the refresh) outgrow etcd's
  // default 2 GiB quota between two compactions; tmpfs holds it (8 GiB, as the hostile bench).
  const cp = (await timed('control plane up', () => startControlPlane({ etcdQuotaBackendBytes: 8 * 2 ** 30 }))).value;
  cp.releaseAtExit(); // files removed and processes killed at any exit
  onInterrupt.push(() => cp.stop());
  const admin = createKubeHttp({ server: cp.server, caPem: cp.caPem, token: cp.adminToken, maxSockets: CREATE_CONCURRENCY });
  const env = await describeEnvironment(nodeBinary, admin);
  const sts = await startBenchSts(cp, workload.identities, UNLOADED_TOKEN_LIFETIME_SECONDS);
  onInterrupt.push(() => sts.stop());
  const watch = createSecretWatch({ http: admin, labelSelector: WATCHED_SELECTOR, registry: REGISTRY });
  const twin = createInformerTwin(admin);
  const results: BenchResults = {
    env,
    set,
    scale,
    shape,
    concurrency,
    managedNames: workload.managedNames,
    unloadedTokenLifetimeSeconds: UNLOADED_TOKEN_LIFETIME_SECONDS,
    creation: {},
    loadedRuns: [],
    baselines: [],
    controllerNodeFlags: [],
    failures: [],
    notes: [],
    totalSeconds: 0,
  };
  if (scale !== 1) results.notes.push(`BENCH_SCALE=${scale}: a reduced workload, NOT the issue's figures.`);
  // The machine is shared: its load goes into the results with the figures.
  results.load = [];
  const sampleLoad = () => results.load!.push({ atSeconds: Math.round((Date.now() - began) / 1000), load1: loadavg()[0]! });
  sampleLoad();
  const loadTimer = setInterval(sampleLoad, 30_000);
  const resultsName = set === 'goal' ? 'controller' : 'controller-5k';
  writePartial = () => {
    results.failures.push(`interrupted after ${((Date.now() - began) / 1000).toFixed(0)} s: the figures so far`);
    results.totalSeconds = (Date.now() - began) / 1000;
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, `${resultsName}-partial.md.tmp`), renderReport(results));
    writeFileSync(join(resultsDir, `${resultsName}-partial.json.tmp`), `${JSON.stringify(results, null, 2)}\n`);
    process.stderr.write(`bench: the figures so far are in bench/results/${resultsName}-partial.md.tmp\n`);
  };

  let loadedProc: ControllerProcess | undefined;
  let countOomKills = () => 0;
  try {
    const identity = await createControllerIdentity(root, cp, admin, workload.managedNames, privateDir);
    const extraFlags = (process.env.BENCH_CONTROLLER_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
    if (extraFlags.length > 0) results.notes.push(`Controller run with extra Node flags ${extraFlags.join(' ')} (diagnosis): not the figures.`);
    const extraArgs = (process.env.BENCH_CONTROLLER_ARGS ?? '').split(/\s+/).filter((f) => f !== '');
    if (extraArgs.length > 0) results.notes.push(`Controller run with extra flags ${extraArgs.join(' ')} (diagnosis): not the figures.`);
    if (quick) results.notes.push('BENCH_QUICK=1: only the interleaved cold starts and baselines (diagnosis): not the figures.');
    // The controller runs as the Deployment runs it: its Node flags are part of what is measured.
    const controllerNodeFlags = [...shippedNodeFlags(root), ...extraFlags];
    results.controllerNodeFlags = controllerNodeFlags;
    const controllerScript = (await timed('npm run build (the controller as the image runs it)', async () => buildController(root, nodeBinary))).value;
    // Each controller process under its Deployment's memory limit, as in its Pod (bench/memory-cgroup.ts).
    const memoryLimitBytes = shippedMemoryLimit(root);
    const started: ControllerProcess[] = [];
    countOomKills = () => started.reduce((n, p) => n + p.oomKills(), 0);
    const onControllerStarted = (proc: ControllerProcess) => {
      results.memoryCgroup ??= proc.memoryCgroup;
      started.push(proc);
    };
    const ctx: BenchContext = {
      root, nodeBinary, cp, admin, sts, watch, workload, identity, concurrency, logDir, controllerNodeFlags, controllerArgs: extraArgs, controllerScript, graceMs: GRACE_MS, log, twin,
      ...(memoryLimitBytes === undefined ? {} : { memoryLimitBytes }),
      onControllerStarted,
    };

    const coldTimeoutMs = 1_800_000;
    results.creation['namespaces'] = { count: shape.namespaces, seconds: (await timed('namespaces', () => createNamespaces(admin, workload, CREATE_CONCURRENCY))).seconds };
    await watch.start();
    await twin.start();
    let unloadedSeconds = 0;
    if (quick) {
      results.creation['annotated Secrets'] = { count: workload.managed.length, seconds: (await timed('annotated Secrets', () => createManagedSecrets(admin, workload, CREATE_CONCURRENCY, workload.managed))).seconds };
    } else {
      // The reference for the retained heap per Secret: the same controller with no Secret to hold.
      results.empty = (await timed('controller with no Secrets (the reference for retained heap)', () => idleController(ctx, 'controller-empty.log'))).value;
      log(`  retained heap ${results.empty.retainedAfterGcMiB.toFixed(1)} MiB, peak RSS ${results.empty.memory.peakRssMiB.toFixed(0)} MiB`);
      // A second memory point, a fifth of the Secrets (whole namespaces), so that "how many fit in the
      // limit" is read off a line through two measured points rather than drawn from the empty process.
      const fifth = workload.managed.slice(0, Math.max(1, Math.round(shape.namespaces / 5)) * shape.secretsPerNamespace);
      const rest = workload.managed.slice(fifth.length);
      results.creation['annotated Secrets (a fifth)'] = { count: fifth.length, seconds: (await timed('annotated Secrets (a fifth)', () => createManagedSecrets(admin, workload, CREATE_CONCURRENCY, fifth))).seconds };
      const point = (await timed(`cold start, ${fifth.length} annotated Secrets, 0 unrelated`, () => coldStart(ctx, 'cold start (a fifth, 0 unrelated)', 'controller-fifth.log', coldTimeoutMs, { fullGc: true, expected: fifth.length }))).value;
      results.fifth = { managed: fifth.length, run: summary(point) };
      log(`  peak RSS ${point.memory.peakRssMiB.toFixed(0)} MiB, retained heap ${point.retainedAfterGcMiB?.toFixed(1)} MiB`);
      await point.proc.stop();
      await timed('reset the fifth to {}', async () => {
        await resetManagedSecrets(admin, workload, CREATE_CONCURRENCY, fifth);
        await watch.until('the watch has seen the reset', () => watch.managedWithToken() === 0, 300_000);
      });
      results.creation['annotated Secrets (the rest)'] = { count: rest.length, seconds: (await timed('annotated Secrets (the rest)', () => createManagedSecrets(admin, workload, CREATE_CONCURRENCY, rest))).seconds };

      const unloaded = (await timed('cold start, 0 unrelated Secrets', () => coldStart(ctx, 'cold start (0 unrelated)', 'controller-unloaded.log', coldTimeoutMs, { fullGc: true }))).value;
      results.unloaded = summary(unloaded);
      log(`  peak RSS ${unloaded.memory.peakRssMiB.toFixed(0)} MiB, retained heap ${unloaded.retainedAfterGcMiB?.toFixed(1)} MiB, exchanges ${unloaded.cycle.exchanges}, writes ${unloaded.cycle.writes.writes}`);
      await unloaded.proc.stop();
      unloadedSeconds = unloaded.cycle.seconds;
    }

    results.creation['unrelated Secrets (8 KiB)'] = { count: shape.unrelated, seconds: (await timed('unrelated Secrets', () => createUnrelatedSecrets(admin, workload, CREATE_CONCURRENCY))).seconds };
    results.creation['probe Secrets'] = { count: shape.probes, seconds: (await timed('probe Secrets', () => createProbeSecrets(admin, workload, CREATE_CONCURRENCY))).seconds };

    if (!quick) results.listCost = (await timed('LIST cost (diagnostic)', () => measureListCost(admin))).value;

    const baselineConfig: BaselineConfig = {
      server: cp.server,
      caPem: cp.caPem,
      token: identity.token,
      concurrency,
      labelSelector: MANAGED_SELECTOR,
      registry: REGISTRY,
      fieldManager: 'kube-regcred-bench-baseline',
      issuer: sts.issuer,
      tokenLifetimeSeconds: UNLOADED_TOKEN_LIFETIME_SECONDS,
    };
    // Back to `{}`, and the watch caught up with it, so no reset write lands in the next phase's counts.
    const reset = () =>
      timed('reset to {}', async () => {
        // The first reset, with no controller running, checks the informer twin: what the apiserver sent
        // Secret watchers besides the bench and the twin, less the twin's count again, should be about 0.
        const before = results.twinCheck === undefined ? await snapshotApiserver(admin, watch.own(), twin.own()) : undefined;
        await resetManagedSecrets(admin, workload, CREATE_CONCURRENCY);
        await watch.until('the watch has seen the reset', () => watch.managedWithToken() === 0, 300_000);
        if (before) {
          await sleep(GRACE_MS);
          results.twinCheck = apiserverCostBetween(before, await snapshotApiserver(admin, watch.own(), twin.own()));
        }
      });
    const baseline = async (run: number): Promise<BaselineRun> => {
      await reset();
      return (await timed(`baseline ${run}/${RUNS}`, () => runBaseline({ root, nodeBinary, config: baselineConfig, watch, secrets: workload.managed.length, timeoutMs: coldTimeoutMs, apiserverCpu: () => apiserverCpuSeconds(admin) }))).value;
    };

    // The last run stays up for the refresh cycle: its tokens get a short lifetime chosen from the
    // slowest cold start before it; the others keep the long one (nothing falls due while they run).
    let lifetime = UNLOADED_TOKEN_LIFETIME_SECONDS;
    for (let run = 1; run <= RUNS; run++) {
      if (run === RUNS && !quick) {
        lifetime = refreshLifetimeSeconds(Math.max(unloadedSeconds, ...results.loadedRuns.map((l) => l.cycle.seconds)));
        results.tokenLifetimeSeconds = lifetime;
        sts.setTokenLifetime(lifetime);
      }
      await reset();
      const loaded = (await timed(`cold start ${run}/${RUNS}, ${shape.unrelated} unrelated Secrets (registry tokens live ${lifetime} s)`, () => coldStart(ctx, `cold start ${run}`, `controller-loaded-${run}.log`, coldTimeoutMs, { fullGc: true }))).value;
      log(`  peak RSS ${loaded.memory.peakRssMiB.toFixed(0)} MiB, retained heap ${loaded.retainedAfterGcMiB?.toFixed(1)} MiB, exchanges ${loaded.cycle.exchanges}, writes ${loaded.cycle.writes.writes}`);
      if (loaded.cycle.seconds > earliestDueSeconds(lifetime)) {
        results.notes.push(`Loaded cold start ${run} (${loaded.cycle.seconds.toFixed(0)} s) ran past the earliest refresh instant (${earliestDueSeconds(lifetime).toFixed(0)} s): its cycle counts may include refreshes.`);
      }
      const reported = summary(loaded);
      results.loadedRuns.push(reported);
      if (run < RUNS || quick) {
        reported.peakRssAtStopMiB = loaded.proc.memory().peakRssMiB;
        await loaded.proc.stop();
        results.baselines.push(await baseline(run));
        continue;
      }
      loadedProc = loaded.proc;
      const dueWithin = (lifetime + 2 * Math.max(...results.loadedRuns.map((l) => l.cycle.seconds)) + 300) * 1000;
      results.refresh = (await timed('refresh cycle (waiting for the tokens to fall due)', () => refreshCycle(ctx, loaded.proc, dueWithin))).value;
      // A probe that times out is a finding, not the end of the run: the restart and the last baseline still run.
      try {
        results.latency = (await timed('annotate-to-filled latency', () => annotateLatency(ctx))).value;
      } catch (err) {
        results.failures.push(`annotate-to-filled latency: ${(err as Error).message}`);
        log(`annotate-to-filled latency FAILED: ${(err as Error).message}; going on`);
      }
      const memory = loaded.proc.memory();
      const heap = loaded.proc.heap();
      reported.peakRssAtStopMiB = memory.peakRssMiB;
      results.loadedEnd = { memory, heap, retainedAfterGcMiB: await loaded.proc.retainedAfterFullGc() };
      loadedProc = undefined;
      results.restart = (await timed('restart', () => restart(ctx, loaded.proc, 'controller-restart.log', coldTimeoutMs))).value;
      results.baselines.push(await baseline(run));
    }
  } catch (err) {
    results.failures.push((err as Error).message);
    if (!interrupted) log(`FAILED: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await loadedProc?.stop().catch(() => undefined);
    watch.stop();
    twin.stop();
  }

  results.oomKills = countOomKills();
  clearInterval(loadTimer);
  sampleLoad();
  results.totalSeconds = (Date.now() - began) / 1000;
  await sts.stop();
  // releaseAtExit() unref'd the components: a timer keeps the process alive until they have exited
  // (a kube-apiserver slower than 5 s to stop is SIGKILLed and awaited with nothing else pending).
  const keepAlive = setInterval(() => undefined, 1000);
  await cp.stop().finally(() => clearInterval(keepAlive));
  admin.close();

  const trial =
    scale !== 1 || quick || (process.env.BENCH_CONTROLLER_NODE_FLAGS ?? '').trim() !== '' || (process.env.BENCH_CONTROLLER_ARGS ?? '').trim() !== '' || process.env.KUBE_REGCRED_BUILD_READABLE === '1';
  const stsBench = join(root, 'bench', 'sts-token.ts');
  if (!others) {
    results.stsBench = results.providerBench = results.imageBench = results.proxyBench = 'not run (`npm run bench -- ' + (set === 'goal' ? 'controller' : 'controller-5k') + '`: the controller benchmark alone)';
  } else if (trial) {
    results.stsBench = 'not run (a reduced or instrumented trial run)';
  } else if (existsSync(stsBench) && results.failures.length === 0) {
    log('token-service bench (bench/sts-token.ts)');
    const run = await runChild(nodeBinary, [stsBench], { cwd: root, inheritOutput: true });
    results.stsBench = run.code === 0 ? 'bench/sts-token.ts ran: its table is in bench/results/sts-token.md' : `bench/sts-token.ts FAILED with ${run.signal ?? run.code}`;
    if (run.code !== 0) results.failures.push('bench/sts-token.ts failed');
  } else {
    results.stsBench = existsSync(stsBench) ? 'not run (the controller bench failed)' : 'bench/sts-token.ts does not exist yet: not run';
  }

  // The kubelet plugin's per-call cost (bench/credential-provider.ts): independent of the controller's run.
  if (!others) {
    // said above
  } else if (trial) {
    results.providerBench = 'not run (a reduced or instrumented trial run)';
  } else if (!interrupted) {
    log('credential-provider bench (bench/credential-provider.ts)');
    const run = await runChild(nodeBinary, [join(root, 'bench', 'credential-provider.ts')], { cwd: root, inheritOutput: true });
    results.providerBench = run.code === 0 ? 'bench/credential-provider.ts ran: its table is in bench/results/credential-provider.md' : `bench/credential-provider.ts FAILED with ${run.signal ?? run.code}`;
    if (run.code !== 0) results.failures.push('bench/credential-provider.ts failed');
  }

  // The image's size: what hack/build-image.sh built, independent of the runs above.
  if (!others) {
    // said above
  } else if (trial) {
    results.imageBench = 'not run (a reduced or instrumented trial run)';
  } else if (!interrupted) {
    log('image size (bench/image.ts)');
    const run = await runChild(nodeBinary, [join(root, 'bench', 'image.ts')], { cwd: root, inheritOutput: true });
    results.imageBench = run.code === 0 ? 'bench/image.ts ran: its table is in bench/results/image.md' : `bench/image.ts FAILED with ${run.signal ?? run.code}`;
    if (run.code !== 0) results.failures.push('bench/image.ts failed');
  }

  const proxyBench = join(root, 'bench', 'proxy-stream.ts');
  if (!others) {
    // said above
  } else if (trial) {
    results.proxyBench = 'not run (a reduced or instrumented trial run)';
  } else if (results.failures.length === 0 && !interrupted) {
    log('proxy streaming bench (bench/proxy-stream.ts)');
    const run = await runChild(nodeBinary, [proxyBench], { cwd: root, inheritOutput: true });
    results.proxyBench = run.code === 0 ? 'bench/proxy-stream.ts ran: its tables are in bench/results/proxy.md' : `bench/proxy-stream.ts FAILED with ${run.signal ?? run.code}`;
    if (run.code !== 0) results.failures.push('bench/proxy-stream.ts failed');
  } else {
    results.proxyBench = 'not run (an earlier bench failed)';
  }

  if (interrupted) return 130;
  const report = renderReport(results);
  mkdirSync(resultsDir, { recursive: true });
  // A reduced or instrumented run must not replace the figures: it goes to git-ignored .tmp files.
  const base = trial ? `${resultsName}-trial` : resultsName;
  const suffix = trial ? '.tmp' : '';
  writeFileSync(join(resultsDir, `${base}.md${suffix}`), report);
  writeFileSync(join(resultsDir, `${base}.json${suffix}`), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${report}\nwritten to bench/results/${base}.md${suffix}\n`);

  keepLogs ||= results.failures.length > 0;
  if (keepLogs) log(`controller logs kept in ${logDir}`);

  const violations = limitViolations(results);
  if (violations.length > 0) {
    process.stderr.write(`bench: limits exceeded: ${violations.join('; ')}\n`);
    return 1;
  }
  return results.failures.length > 0 ? 2 : 0;
}

/** `npm run bench -- sts` / `-- image` / `-- hostile`: that bench alone, its exit code passed on. */
async function only(file: string): Promise<number> {
  const run = await runChild(nodeBinary, [join(root, 'bench', file)], { cwd: root, inheritOutput: true });
  return run.code ?? 2;
}

const ONLY: Record<string, () => Promise<number>> = {
  controller: () => main('goal', false),
  'controller-5k': () => main('5k', false),
  sts: () => only('sts-token.ts'),
  image: () => only('image.ts'),
  hostile: () => only('hostile.ts'),
};

if (import.meta.main) {
  const piece = process.argv[2] === undefined ? () => main('goal', true) : ONLY[process.argv[2]];
  if (piece === undefined) {
    process.stderr.write(`bench: unknown piece "${process.argv[2]}"; one of: ${Object.keys(ONLY).join(', ')}, or none for everything\n`);
    process.exit(2);
  }
  const code = await piece().catch((err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    return 2;
  });
  process.exit(code);
}
