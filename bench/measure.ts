// The measured phases: a cold start, a refresh cycle, annotate-to-filled latency, a restart. Each
// counts from three independent places: the test STS (exchanges, by identity), the apiserver's own
// /metrics (PATCHes of Secrets, TokenRequests) and the bench's watch (writes, tokens), and reads the
// controller's /metrics for its own view.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '../test/support/control-plane.ts';
import type { TestSts } from '../test/support/test-sts.ts';
import { ANNOTATIONS } from '../src/annotations.ts';
import { DEFAULT_REFRESH_SCHEDULE, refreshAt } from '../src/token/refresh-time.ts';
import { readJwtTimes } from '../src/token/jwt-times.ts';
import { apiserverCostBetween, snapshotApiserver, type ApiserverCost, type ApiserverSnapshot } from './apiserver-cost.ts';
import { readProcessCpu, startControllerProcess, type ProcessCpu, type ControllerProcess, type HeapStats, type ProcessMemory } from './controller-process.ts';
import { MERGE_PATCH, type KubeHttp } from './kube-http.ts';
import { sumSamples } from './prom-text.ts';
import type { InformerTwin } from './informer-twin.ts';
import type { EpochCounts, OwnTraffic, SecretWatch } from './secret-watch.ts';
import { REGISTRY, STS_AUDIENCE, type ControllerIdentity } from './setup.ts';
import type { Workload } from './workload.ts';

export interface BenchContext {
  root: string;
  nodeBinary: string;
  cp: ControlPlane;
  admin: KubeHttp;
  sts: TestSts;
  watch: SecretWatch;
  workload: Workload;
  identity: ControllerIdentity;
  /** The controller's --concurrency, and the baseline's. */
  concurrency: number;
  logDir: string;
  /** The controller's memory limit, from its Deployment: each controller process runs in a memory cgroup of it (memory-cgroup.ts). */
  memoryLimitBytes?: number;
  /** Told of each controller process started, to report its cgroup and OOM kills. */
  onControllerStarted?: (proc: ControllerProcess) => void;
  /** Controller flags beyond the bench's own (BENCH_CONTROLLER_ARGS, diagnosis). */
  controllerArgs?: readonly string[];
  /** Node flags for the controller: the shipped Deployment's, plus BENCH_CONTROLLER_NODE_FLAGS. */
  controllerNodeFlags: readonly string[];
  /** The compiled CLI (main.js of `npm run build`), as the image runs it. */
  controllerScript: string;
  /** Quiet time after a phase ends, during which late writes or exchanges still count against it. */
  graceMs: number;
  log: (message: string) => void;
  /** The twin of kube-apiserver's own Secret informer (informer-twin.ts): its share of the watch metrics is taken out. */
  twin?: InformerTwin;
}

const NO_TRAFFIC: OwnTraffic = { lists: 0, listBytes: 0, watchesStarted: 0, watchesOpen: 0, events: 0, eventBytes: 0 };

/** Counts from outside the controller, to take differences of. */
interface OutsideCounts {
  exchanges: number;
  byIdentity: Map<string, number>;
  apiSecretPatches: number;
  apiTokenRequests: number;
  apiSecretLists: number;
  apiSecretGets: number;
  /** kube-apiserver's process_cpu_seconds_total: user + system CPU since it started. */
  apiserverCpuSeconds: number;
  /** The apiserver's metrics by resource, and the bench's own traffic, for the phase's cost. */
  api: ApiserverSnapshot;
}

export interface CycleResult {
  label: string;
  /** Cold start: spawn → every Secret filled. Refresh: first → last token write. Restart: spawn → settled. */
  seconds: number;
  exchanges: number;
  /** exchanges ÷ identities. */
  exchangesPerIdentity: number;
  maxExchangesOfOneIdentity: number;
  /** kube_regcred_token_requests_total over the cycle (the controller's view). */
  tokenRequests: number;
  /** POST serviceaccounts/token seen by the apiserver over the cycle (independent). */
  apiserverTokenRequests: number;
  /** The bench watch's count of writes to the annotated Secrets. */
  writes: EpochCounts;
  /** PATCH secrets seen by the apiserver over the cycle (independent; includes probe writes, if any). */
  apiserverSecretPatches: number;
  apiserverSecretLists: number;
  apiserverSecretGets: number;
  /** The controller's own counters over the cycle. */
  controllerExchanges: number;
  controllerRefreshes: number;
  controllerErrors: number;
  /**
   * What the phase cost the apiserver (LIST/GET/WATCH requests and bytes, writes), the bench's own traffic
   * and kube-apiserver's own informer taken out; only with an informer twin in the context (run.ts has one).
   */
  apiserver?: ApiserverCost;
  /** Secret PATCHes the apiserver took ÷ `seconds`. */
  secretWritesPerSecond: number;
  /**
   * CPU seconds (user + system) over the cycle, grace period included: the controller's (its
   * process_cpu_seconds_total; from spawn for a cold start) and kube-apiserver's. Steadier than wall time
   * on a shared machine, and they say who the time went to.
   */
  controllerCpuSeconds: number;
  apiserverCpuSeconds: number;
}

export interface ColdStart {
  proc: ControllerProcess;
  cycle: CycleResult;
  /** Spawn → /readyz 200 (polled every 100 ms). */
  readySeconds: number;
  /** Spawn → first token write seen. */
  firstWriteSeconds: number;
  memory: ProcessMemory;
  heap: HeapStats;
  /** Most file descriptors the controller held at once after it was ready (sampled every 100 ms): sockets, mostly. */
  peakOpenFds: number;
  /** V8 heap in use after a full GC forced at the end (after the grace period), MiB; only when asked for. */
  retainedAfterGcMiB?: number;
  /** CPU seconds from spawn until the last Secret was seen filled: the controller's (in all, by thread), kube-apiserver's. */
  cpuUntilFilled: { controller: number; apiserver: number; controllerThreads?: ProcessCpu };
}

/** Samples the number of open file descriptors of `pid` until stopped; returns the peak. */
function sampleOpenFds(pid: number): () => number {
  let peak = 0;
  const sample = () => {
    try {
      peak = Math.max(peak, readdirSync(`/proc/${pid}/fd`).length);
    } catch {
      // the process is gone
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  return () => {
    clearInterval(timer);
    sample();
    return peak;
  };
}

export function controllerArgs(ctx: BenchContext): string[] {
  return [
    '--kubeconfig', ctx.identity.kubeconfig,
    '--issuer-url', ctx.sts.url,
    '--audience', STS_AUDIENCE,
    '--default-registry', REGISTRY,
    '--service-account-name', ctx.identity.serviceAccount,
    '--service-account-namespace', ctx.identity.namespace,
    '--ops-address', '127.0.0.1:0',
    '--concurrency', String(ctx.concurrency),
    '--log-level', 'info',
    ...(ctx.controllerArgs ?? []),
  ];
}

/** The controller as the bench runs it everywhere: compiled, with the shipped Node flags, logging to `logName`. */
async function startBenchController(ctx: BenchContext, logName: string): Promise<ControllerProcess> {
  const proc = await startControllerProcess({
    root: ctx.root,
    nodeBinary: ctx.nodeBinary,
    args: controllerArgs(ctx),
    nodeFlags: ctx.controllerNodeFlags,
    script: ctx.controllerScript,
    logFile: join(ctx.logDir, logName),
    ...(ctx.memoryLimitBytes === undefined ? {} : { memoryLimitBytes: ctx.memoryLimitBytes }),
  });
  ctx.onControllerStarted?.(proc);
  return proc;
}

async function outsideCounts(ctx: BenchContext): Promise<OutsideCounts> {
  const api = await snapshotApiserver(ctx.admin, ctx.watch.own(), ctx.twin?.own() ?? NO_TRAFFIC);
  const text = await ctx.admin.text('/metrics');
  return {
    api,
    exchanges: ctx.sts.calls.exchange,
    byIdentity: new Map(ctx.sts.calls.byIdentity),
    apiSecretPatches: sumSamples(text, 'apiserver_request_total', { resource: 'secrets', verb: 'PATCH' }),
    apiTokenRequests: sumSamples(text, 'apiserver_request_total', { resource: 'serviceaccounts', subresource: 'token', verb: 'POST' }),
    apiSecretLists: sumSamples(text, 'apiserver_request_total', { resource: 'secrets', verb: 'LIST' }),
    apiSecretGets: sumSamples(text, 'apiserver_request_total', { resource: 'secrets', verb: 'GET' }),
    apiserverCpuSeconds: sumSamples(text, 'process_cpu_seconds_total'),
  };
}

/** kube-apiserver's CPU seconds (user + system) since it started, from its own /metrics. */
export async function apiserverCpuSeconds(admin: KubeHttp): Promise<number> {
  return sumSamples(await admin.text('/metrics'), 'process_cpu_seconds_total');
}

interface ControllerCounts {
  exchanges: number;
  tokenRequests: number;
  refreshes: number;
  errors: number;
  cpuSeconds: number;
}

function controllerCounts(text: string | undefined): ControllerCounts {
  if (text === undefined) return { exchanges: 0, tokenRequests: 0, refreshes: 0, errors: 0, cpuSeconds: 0 };
  return {
    exchanges: sumSamples(text, 'kube_regcred_exchanges_total'),
    tokenRequests: sumSamples(text, 'kube_regcred_token_requests_total'),
    refreshes: sumSamples(text, 'kube_regcred_secret_refreshes_total'),
    errors: sumSamples(text, 'kube_regcred_errors_total'),
    cpuSeconds: sumSamples(text, 'process_cpu_seconds_total'),
  };
}

function cycleResult(
  ctx: BenchContext,
  label: string,
  seconds: number,
  before: OutsideCounts,
  after: OutsideCounts,
  controllerBefore: string | undefined,
  controllerAfter: string,
  writes: EpochCounts,
): CycleResult {
  const cBefore = controllerCounts(controllerBefore);
  const cAfter = controllerCounts(controllerAfter);
  const exchanges = after.exchanges - before.exchanges;
  let maxOne = 0;
  for (const [identity, n] of after.byIdentity) maxOne = Math.max(maxOne, n - (before.byIdentity.get(identity) ?? 0));
  const patches = after.apiSecretPatches - before.apiSecretPatches;
  return {
    label,
    seconds,
    exchanges,
    exchangesPerIdentity: exchanges / ctx.workload.identities.length,
    maxExchangesOfOneIdentity: maxOne,
    tokenRequests: cAfter.tokenRequests - cBefore.tokenRequests,
    apiserverTokenRequests: after.apiTokenRequests - before.apiTokenRequests,
    writes,
    apiserverSecretPatches: after.apiSecretPatches - before.apiSecretPatches,
    apiserverSecretLists: after.apiSecretLists - before.apiSecretLists,
    apiserverSecretGets: after.apiSecretGets - before.apiSecretGets,
    controllerExchanges: cAfter.exchanges - cBefore.exchanges,
    controllerRefreshes: cAfter.refreshes - cBefore.refreshes,
    controllerErrors: cAfter.errors - cBefore.errors,
    ...(ctx.twin ? { apiserver: apiserverCostBetween(before.api, after.api) } : {}),
    secretWritesPerSecond: seconds > 0 ? patches / seconds : NaN,
    controllerCpuSeconds: cAfter.cpuSeconds - cBefore.cpuSeconds,
    apiserverCpuSeconds: after.apiserverCpuSeconds - before.apiserverCpuSeconds,
  };
}

/**
 * Starts a controller on Secrets that hold `{}` and waits until every one holds a token. With `fullGc`,
 * forces a full GC once the grace period is over (bench/full-gc.ts) and reports the heap it retains.
 */
export async function coldStart(
  ctx: BenchContext,
  label: string,
  logName: string,
  timeoutMs: number,
  /** `expected`: how many annotated Secrets exist now (default all of the workload's). */
  options: { fullGc?: boolean; expected?: number } = {},
): Promise<ColdStart> {
  const managed = options.expected ?? ctx.workload.managed.length;
  ctx.watch.beginEpoch();
  const before = await outsideCounts(ctx);
  const started = Date.now();
  let readyAt = 0;
  let stopSampling: () => number = () => 0;
  const starting = startBenchController(ctx, logName).then((proc) => {
    readyAt = Date.now();
    stopSampling = sampleOpenFds(proc.pid);
    return proc;
  });
  const filled = ctx.watch.until(`${label}: all ${managed} annotated Secrets filled`, () => ctx.watch.counts().changedSecrets >= managed, timeoutMs);
  filled.catch(() => undefined);
  starting.catch(() => undefined);
  const [filledAt, proc] = await Promise.all([
    filled.catch(async (err: Error) => {
      throw new Error(`${err.message} (${await stallReport(ctx, before, started, readyAt, starting)})`);
    }),
    starting,
  ]);
  const controllerThreads = readProcessCpu(proc.pid);
  const cpuUntilFilled = { controller: controllerThreads.total, controllerThreads, apiserver: (await apiserverCpuSeconds(ctx.admin)) - before.apiserverCpuSeconds };
  const peakOpenFds = stopSampling();
  await sleep(ctx.graceMs);
  const writes = ctx.watch.counts();
  const after = await outsideCounts(ctx);
  const metrics = await proc.metrics();
  const cycle = cycleResult(ctx, label, (filledAt - started) / 1000, before, after, undefined, metrics, writes);
  // Memory is read before the forced GC: the inspector it opens must not count against the peak.
  const memory = proc.memory();
  const heap = proc.heap();
  const retainedAfterGcMiB = options.fullGc ? await proc.retainedAfterFullGc() : undefined;
  return {
    proc,
    cycle,
    readySeconds: (readyAt - started) / 1000,
    firstWriteSeconds: ((writes.firstWriteMs ?? filledAt) - started) / 1000,
    memory,
    heap,
    peakOpenFds,
    ...(retainedAfterGcMiB === undefined ? {} : { retainedAfterGcMiB }),
    cpuUntilFilled,
  };
}

/**
 * What a cold start that timed out looked like, so that one failed run tells whether the controller
 * stalled, failed, or wrote while the bench's watch missed it: readiness, the controller's own counts,
 * the bench watch's counts, and the PATCHes the apiserver took. Names and counts only, no Secret data.
 */
async function stallReport(ctx: BenchContext, before: OutsideCounts, started: number, readyAt: number, starting: Promise<ControllerProcess>): Promise<string> {
  const parts = [readyAt > 0 ? `controller ready after ${((readyAt - started) / 1000).toFixed(1)} s` : 'controller never ready'];
  try {
    const proc = await Promise.race([starting, sleep(1000).then(() => undefined)]);
    const c = controllerCounts(proc ? await proc.metrics() : undefined);
    if (proc) parts.push(`controller counts ${c.refreshes} refreshes, ${c.exchanges} exchanges, ${c.tokenRequests} TokenRequests, ${c.errors} errors`);
  } catch (err) {
    parts.push(`controller metrics unreadable: ${(err as Error).message}`);
  }
  const counts = ctx.watch.counts();
  const own = ctx.watch.own();
  parts.push(`bench watch saw ${counts.writes} writes (${counts.changedSecrets} Secrets with a new token), ${own.watchesStarted} watches started, ${own.watchesOpen} open, ${ctx.watch.gaps} relists`);
  try {
    const after = await outsideCounts(ctx);
    parts.push(`apiserver took ${after.apiSecretPatches - before.apiSecretPatches} Secret PATCHes, STS ${after.exchanges - before.exchanges} exchanges`);
  } catch (err) {
    parts.push(`apiserver counts unreadable: ${(err as Error).message}`);
  }
  return parts.join('; ');
}

export interface IdleRun {
  readySeconds: number;
  memory: ProcessMemory;
  heap: HeapStats;
  retainedAfterGcMiB: number;
}

/**
 * The same controller on a cluster with no Secret for it: ready, the grace period, a forced full GC.
 * Its retained heap is what the process holds for itself (code, clients, metrics): the per-Secret
 * figure is measured against it.
 */
export async function idleController(ctx: BenchContext, logName: string): Promise<IdleRun> {
  const started = Date.now();
  const proc = await startBenchController(ctx, logName);
  try {
    const readySeconds = (Date.now() - started) / 1000;
    await sleep(ctx.graceMs);
    const memory = proc.memory();
    const heap = proc.heap();
    return { readySeconds, memory, heap, retainedAfterGcMiB: await proc.retainedAfterFullGc() };
  } finally {
    await proc.stop();
  }
}

/** Waits for the controller to replace every annotated Secret's token once (the registry tokens are short-lived). */
export async function refreshCycle(ctx: BenchContext, proc: ControllerProcess, timeoutMs: number): Promise<CycleResult> {
  const managed = ctx.workload.managed.length;
  ctx.watch.beginEpoch();
  const before = await outsideCounts(ctx);
  const controllerBefore = await proc.metrics();
  const doneAt = await ctx.watch.until(`refresh: all ${managed} tokens replaced`, () => ctx.watch.counts().changedSecrets >= managed, timeoutMs);
  await sleep(ctx.graceMs);
  const writes = ctx.watch.counts();
  const after = await outsideCounts(ctx);
  const controllerAfter = await proc.metrics();
  return cycleResult(ctx, 'refresh', (doneAt - (writes.firstWriteMs ?? doneAt)) / 1000, before, after, controllerBefore, controllerAfter, writes);
}

export interface LatencyResult {
  samplesMs: number[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Nearest-rank percentile. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Annotates the probe Secrets one at a time; each sample is "PATCH sent" → "the watch sees its token". */
export async function annotateLatency(ctx: BenchContext): Promise<LatencyResult> {
  const samplesMs: number[] = [];
  for (const probe of ctx.workload.probes) {
    const sent = Date.now();
    const seen = ctx.watch.tokenSeen(probe.namespace, probe.name, 60_000);
    seen.catch(() => undefined);
    await ctx.admin.ok(
      'PATCH',
      `/api/v1/namespaces/${probe.namespace}/secrets/${probe.name}`,
      { metadata: { annotations: { [ANNOTATIONS.identity]: probe.identity } } },
      MERGE_PATCH,
    );
    samplesMs.push((await seen) - sent);
  }
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { samplesMs, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? NaN };
}

export interface RestartResult {
  cycle: CycleResult;
  readySeconds: number;
  /** Secrets the new process reconciled and found good (its reconcile_duration count, outcome "waiting"). */
  reconciledWaiting: number;
  /** The earliest instant a token held now falls due: a restart window past it could legitimately write. */
  earliestDueAt: Date | undefined;
  windowEndedAt: Date;
}

/** Earliest refresh instant of the tokens the watched Secrets hold (the controller runs the default policy). */
export function earliestDue(tokens: readonly string[]): Date | undefined {
  let earliest: number | undefined;
  for (const token of tokens) {
    try {
      const due = refreshAt(token, readJwtTimes(token), DEFAULT_REFRESH_SCHEDULE).getTime();
      if (earliest === undefined || due < earliest) earliest = due;
    } catch {
      // not a JWT: nothing the controller would schedule either
    }
  }
  return earliest === undefined ? undefined : new Date(earliest);
}

/** Stops `old` (graceful), starts a new controller on the filled Secrets, and counts what it writes. */
export async function restart(ctx: BenchContext, old: ControllerProcess, logName: string, timeoutMs: number): Promise<RestartResult> {
  await old.stop();
  const expected = ctx.workload.managed.length + ctx.workload.probes.length;
  const earliestDueAt = earliestDue(ctx.watch.tokens());
  ctx.watch.beginEpoch();
  const before = await outsideCounts(ctx);
  const started = Date.now();
  const proc = await startBenchController(ctx, logName);
  const readySeconds = (Date.now() - started) / 1000;
  try {
    const deadline = Date.now() + timeoutMs;
    let waiting = 0;
    for (;;) {
      waiting = sumSamples(await proc.metrics(), 'kube_regcred_reconcile_duration_seconds_count', { outcome: 'waiting' });
      if (waiting >= expected) break;
      if (Date.now() > deadline) throw new Error(`restart: the controller reconciled ${waiting} of ${expected} Secrets in ${timeoutMs / 1000} s`);
      await sleep(500);
    }
    const settledSeconds = (Date.now() - started) / 1000;
    await sleep(Math.max(ctx.graceMs, 5000));
    const writes = ctx.watch.counts();
    const after = await outsideCounts(ctx);
    const metrics = await proc.metrics();
    return {
      cycle: cycleResult(ctx, 'restart', settledSeconds, before, after, undefined, metrics, writes),
      readySeconds,
      reconciledWaiting: waiting,
      earliestDueAt,
      windowEndedAt: new Date(),
    };
  } finally {
    await proc.stop();
  }
}
