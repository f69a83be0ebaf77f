// The results as markdown: one table of figures with their goals (issue 6) and met / not met, the
// machine and versions, then the details behind each figure. Pure: run.ts writes and prints it.
import type { BaselineRun } from './baseline.ts';
import type { ListCost } from './list-cost.ts';
import type { HeapStats, ProcessMemory } from './controller-process.ts';
import type { Environment } from './environment.ts';
import type { ColdStart, CycleResult, LatencyResult, RestartResult } from './measure.ts';
import type { WorkloadShape } from './workload.ts';

/** A cold start as reported: everything but the process handle. */
export type ColdStartSummary = Omit<ColdStart, 'proc'>;

export interface BenchResults {
  env: Environment;
  shape: WorkloadShape;
  concurrency: number;
  managedNames: string[];
  unloadedTokenLifetimeSeconds: number;
  tokenLifetimeSeconds?: number;
  creation: Record<string, { count: number; seconds: number }>;
  unloaded?: ColdStartSummary;
  loaded?: ColdStartSummary;
  baseline?: BaselineRun;
  /** Node flags the controller ran with: the shipped Deployment's, plus any diagnostic extras. */
  controllerNodeFlags: string[];
  listCost?: ListCost[];
  refresh?: CycleResult;
  latency?: LatencyResult;
  restart?: RestartResult;
  /** The loaded controller just before it was stopped (after cold start, refresh and latency). */
  loadedEnd?: { memory: ProcessMemory; heap: HeapStats };
  stsBench?: string;
  /** What happened to bench/credential-provider.ts (its table is in its own file). */
  providerBench?: string;
  proxyBench?: string;
  imageBench?: string;
  failures: string[];
  notes: string[];
  totalSeconds: number;
}

/** Allowed growth of peak RSS / heap from 0 to 20,000 unrelated Secrets before it counts as growth. */
export const GROWTH_TOLERANCE = 0.1;
export const MEMORY_GOAL_MIB = 150;
export const RATIO_GOAL = 1.3;

type Met = 'yes' | 'no' | 'n/a';
interface Row {
  figure: string;
  measured: string;
  goal: string;
  met: Met;
}

const s = (seconds: number | undefined) => (seconds === undefined || !Number.isFinite(seconds) ? 'n/a' : `${seconds.toFixed(1)} s`);
const mib = (value: number | undefined) => (value === undefined || !Number.isFinite(value) ? 'n/a' : `${value.toFixed(0)} MiB`);
const int = (value: number) => value.toLocaleString('en-US');
const yes = (ok: boolean | undefined): Met => (ok === undefined ? 'n/a' : ok ? 'yes' : 'no');

/** The cycles whose per-identity exchanges and per-audience TokenRequests must stay at or under 1. */
export function countedCycles(r: BenchResults): CycleResult[] {
  return [r.unloaded?.cycle, r.loaded?.cycle, r.refresh, r.restart?.cycle].filter((c): c is CycleResult => c !== undefined);
}

/** Reasons for a non-zero exit: more than one exchange per identity, or TokenRequest per audience, in a cycle. */
export function limitViolations(r: BenchResults): string[] {
  const out: string[] = [];
  for (const c of countedCycles(r)) {
    if (c.maxExchangesOfOneIdentity > 1) out.push(`${c.label}: ${c.maxExchangesOfOneIdentity} exchanges for one identity (limit 1 per cycle)`);
    // One audience: the controller's total is the per-audience count.
    if (Math.max(c.tokenRequests, c.apiserverTokenRequests) > 1) {
      out.push(`${c.label}: ${c.tokenRequests} TokenRequests (controller) / ${c.apiserverTokenRequests} (apiserver) for one audience (limit 1 per cycle)`);
    }
  }
  return out;
}

function rows(r: BenchResults): Row[] {
  const managed = r.shape.namespaces * r.shape.secretsPerNamespace;
  const out: Row[] = [];
  const loaded = r.loaded?.cycle;
  const ratio = loaded && r.baseline ? loaded.seconds / r.baseline.seconds : undefined;
  out.push({ figure: `Cold start until all ${int(managed)} annotated Secrets are filled (with ${int(r.shape.unrelated)} unrelated)`, measured: s(loaded?.seconds), goal: '—', met: 'n/a' });
  out.push({ figure: `Baseline: bare client patching the same Secrets, concurrency ${r.concurrency}`, measured: s(r.baseline?.seconds), goal: '—', met: 'n/a' });
  out.push({ figure: 'Cold start ÷ baseline', measured: ratio === undefined ? 'n/a' : `${ratio.toFixed(2)}×`, goal: `≤ ${RATIO_GOAL}×`, met: yes(ratio === undefined ? undefined : ratio <= RATIO_GOAL) });

  const cycles = [loaded, r.refresh].filter((c): c is CycleResult => c !== undefined);
  const label = (c: CycleResult) => (c.label === 'refresh' ? 'refresh' : 'cold start');
  out.push({
    figure: 'Exchanges per cycle ÷ identities (cold start / refresh)',
    measured: cycles.map((c) => `${c.exchangesPerIdentity.toFixed(2)} (max ${c.maxExchangesOfOneIdentity} for one identity)`).join(' / ') || 'n/a',
    goal: '1.00',
    met: yes(cycles.length === 2 ? cycles.every((c) => c.exchangesPerIdentity === 1 && c.maxExchangesOfOneIdentity === 1) : undefined),
  });
  out.push({
    figure: 'TokenRequests per cycle (cold start / refresh): controller metric (apiserver count)',
    measured: cycles.map((c) => `${c.tokenRequests} (${c.apiserverTokenRequests})`).join(' / ') || 'n/a',
    goal: '≤ 1 per audience',
    met: yes(cycles.length === 2 ? cycles.every((c) => c.tokenRequests <= 1 && c.apiserverTokenRequests <= 1) && loaded!.tokenRequests === 1 : undefined),
  });
  out.push({
    figure: 'Secret writes per cycle (cold start / refresh), by the bench watch (apiserver PATCHes)',
    measured: cycles.map((c) => `${int(c.writes.writes)} (${int(c.apiserverSecretPatches)})`).join(' / ') || 'n/a',
    goal: int(managed),
    met: yes(cycles.length === 2 ? cycles.every((c) => c.writes.writes === managed) : undefined),
  });
  const rs = r.restart?.cycle;
  out.push({
    figure: 'Extra writes after a controller restart (exchanges, TokenRequests)',
    measured: rs ? `${rs.writes.writes} (${rs.exchanges}, ${rs.tokenRequests})` : 'n/a',
    goal: '0',
    met: yes(rs ? rs.writes.writes === 0 && rs.apiserverSecretPatches === 0 : undefined),
  });
  const u = r.unloaded;
  const l = r.loaded;
  const grows = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b <= a * (1 + GROWTH_TOLERANCE));
  out.push({ figure: 'Controller peak RSS (VmHWM), 0 unrelated Secrets', measured: mib(u?.memory.peakRssMiB), goal: `≤ ${MEMORY_GOAL_MIB} MiB`, met: yes(u ? u.memory.peakRssMiB <= MEMORY_GOAL_MIB : undefined) });
  out.push({
    figure: `Controller peak RSS (VmHWM), ${int(r.shape.unrelated)} unrelated Secrets`,
    measured: mib(l?.memory.peakRssMiB),
    goal: `≤ ${MEMORY_GOAL_MIB} MiB, no growth (≤ +${GROWTH_TOLERANCE * 100} %)`,
    met: yes(l && u ? l.memory.peakRssMiB <= MEMORY_GOAL_MIB && grows(u.memory.peakRssMiB, l.memory.peakRssMiB)! : undefined),
  });
  out.push({
    figure: 'Controller V8 heap, 0 unrelated: peak used / retained after full GC',
    measured: u ? `${mib(u.heap.peakUsedMiB)} / ${mib(u.heap.retainedMiB)}` : 'n/a',
    goal: `≤ ${MEMORY_GOAL_MIB} MiB`,
    met: yes(u ? u.heap.peakUsedMiB <= MEMORY_GOAL_MIB : undefined),
  });
  out.push({
    figure: `Controller V8 heap, ${int(r.shape.unrelated)} unrelated: peak used / retained after full GC`,
    measured: l ? `${mib(l.heap.peakUsedMiB)} / ${mib(l.heap.retainedMiB)}` : 'n/a',
    goal: `≤ ${MEMORY_GOAL_MIB} MiB, no growth (≤ +${GROWTH_TOLERANCE * 100} %)`,
    met: yes(l && u ? l.heap.peakUsedMiB <= MEMORY_GOAL_MIB && grows(u.heap.peakUsedMiB, l.heap.peakUsedMiB)! : undefined),
  });
  out.push({
    figure: `Annotate-to-filled latency, p50 / p99 over ${r.latency?.samplesMs.length ?? r.shape.probes} single annotations (loaded cluster)`,
    measured: r.latency ? `${r.latency.p50Ms.toFixed(0)} ms / ${r.latency.p99Ms.toFixed(0)} ms` : 'n/a',
    goal: '— (reported)',
    met: 'n/a',
  });
  return out;
}

export function cycleDetails(c: CycleResult): string {
  return [
    `${s(c.seconds)}`,
    `exchanges ${c.exchanges} (controller says ${c.controllerExchanges})`,
    `TokenRequests ${c.tokenRequests} (apiserver ${c.apiserverTokenRequests})`,
    `writes ${int(c.writes.writes)} (token changes ${int(c.writes.tokenWrites)}, Secrets written twice ${int(c.writes.secretsWrittenTwice)}; controller counts ${int(c.controllerRefreshes)} refreshes; apiserver PATCH ${int(c.apiserverSecretPatches)})`,
    `apiserver Secret LIST ${c.apiserverSecretLists}, GET ${c.apiserverSecretGets}`,
    `controller errors ${c.controllerErrors}`,
  ].join('; ');
}

export function renderReport(r: BenchResults): string {
  const e = r.env;
  const lines: string[] = [];
  lines.push('# kube-regcred controller benchmark', '');
  lines.push(`${e.date} · ${e.cores} cores (${e.cpuModel}), ${e.memoryGiB} GiB · Node ${e.node} · kube-apiserver ${e.kubeApiserver} · etcd ${e.etcd} · whole run ${s(r.totalSeconds)}`, '');
  lines.push('| figure | measured | goal | met |', '|---|---|---|---|');
  for (const row of rows(r)) lines.push(`| ${row.figure} | ${row.measured} | ${row.goal} | ${row.met} |`);
  lines.push('');
  const violations = limitViolations(r);
  if (violations.length > 0) lines.push(`**Limit exceeded (the bench exits non-zero):** ${violations.join('; ')}`, '');
  if (r.failures.length > 0) lines.push(`**The run did not complete:** ${r.failures.join('; ')}`, '');

  lines.push('## Set-up', '');
  const sh = r.shape;
  lines.push(
    `- Workload: ${int(sh.namespaces * sh.secretsPerNamespace)} annotated \`kubernetes.io/dockerconfigjson\` Secrets holding \`{}\`, ${sh.namespaces} namespaces × ${sh.secretsPerNamespace} names (${r.managedNames[0]} … ${r.managedNames.at(-1)}), ${sh.identities} identities, 1 registry; ${int(sh.unrelated)} unrelated Secrets of ${sh.unrelatedBytes / 1024} KiB (${int(sh.unrelated / 2)} Opaque, ${int(sh.unrelated / 2)} dockerconfigjson without the annotation); ${sh.probes} probe Secrets named \`pull-secret\` for the latency figure.`,
    '- RBAC: the controller runs as its own ServiceAccount with manifests/base applied as shipped. The base grant lets it write only Secrets NAMED `pull-secret` (one per namespace), so the bench adds the secret-names component\'s ClusterRole with the 20 names it uses instead of spreading 5,000 Secrets over 5,000 namespaces.',
    `- Controller: the real CLI as the image runs it, as a child process: bundled by esbuild (\`npm run build\`, hack/build.ts), with the Node flags of manifests/base/deployment.yaml (\`node --trace-gc ${r.controllerNodeFlags.join(' ')} main.js controller\`), cluster-wide, --concurrency ${r.concurrency}, leader election on (default), log level info, default refresh policy. Registry token lifetime from the test STS: ${r.unloadedTokenLifetimeSeconds} s in the unloaded run, ${r.tokenLifetimeSeconds ?? 'n/a'} s in the loaded run (short, so a real refresh cycle happens; chosen from the unloaded cold start).`,
    `- Baseline: a child process (bench/baseline-client.ts) as the same ServiceAccount that lists the annotated Secrets once (label selector) and merge-patches each with the body the controller writes (dockerconfigjson with one registry token, expires-at/refreshed-at, resourceVersion precondition), node:https with a keep-alive pool of ${r.concurrency} connections. Both timed from spawn until the bench's own watch has seen every Secret written.`,
    '- Counting: exchanges by the test STS (per identity); TokenRequests by the controller\'s kube_regcred_token_requests_total and, independently, the apiserver\'s apiserver_request_total{resource="serviceaccounts",subresource="token"}; writes by the bench\'s own watch on the annotated Secrets (MODIFIED events) and the apiserver\'s PATCH count. A cycle keeps counting for a grace period after it completes.',
    '- Memory: VmHWM/VmRSS from /proc/<pid>/status of the controller process; V8 heap from its --trace-gc lines (every collection, so no peak falls between two /metrics scrapes). Sampled at the end of each cold start (after the grace period).',
    '',
  );
  lines.push('## Details', '');
  for (const [what, c] of Object.entries(r.creation)) lines.push(`- Created ${int(c.count)} ${what} in ${s(c.seconds)} (${int(Math.round(c.count / Math.max(c.seconds, 0.001)))}/s); not a figure.`);
  if (r.unloaded) {
    lines.push(`- Cold start, 0 unrelated Secrets: ${cycleDetails(r.unloaded.cycle)}; ready after ${s(r.unloaded.readySeconds)}, first write after ${s(r.unloaded.firstWriteSeconds)}; at most ${int(r.unloaded.peakOpenFds)} open file descriptors; RSS now ${mib(r.unloaded.memory.rssMiB)}, peak ${mib(r.unloaded.memory.peakRssMiB)}; heap committed peak ${mib(r.unloaded.heap.peakCommittedMiB)}, ${r.unloaded.heap.fullGcs} full GCs.`);
  }
  if (r.loaded) {
    lines.push(`- Cold start, ${int(sh.unrelated)} unrelated Secrets: ${cycleDetails(r.loaded.cycle)}; ready after ${s(r.loaded.readySeconds)}, first write after ${s(r.loaded.firstWriteSeconds)}; at most ${int(r.loaded.peakOpenFds)} open file descriptors; RSS now ${mib(r.loaded.memory.rssMiB)}, peak ${mib(r.loaded.memory.peakRssMiB)}; heap committed peak ${mib(r.loaded.heap.peakCommittedMiB)}, ${r.loaded.heap.fullGcs} full GCs.`);
  }
  const b = r.baseline;
  if (b) {
    lines.push(`- Baseline (node:https keep-alive pool): ${s(b.seconds)} from spawn (its LIST ${b.client.listMs.toFixed(0)} ms, its patches ${(b.client.patchMs / 1000).toFixed(1)} s, ${int(b.client.patched)} patched, ${b.client.failed} failed; its peak RSS ${mib(b.client.maxRssMiB)}); watch saw ${int(b.counts.writes)} writes.`);
  }
  for (const c of r.listCost ?? []) {
    lines.push(`- LIST of dockerconfigjson Secrets on the loaded cluster, ${c.how}: ${int(c.items)} items, ${(c.bytes / 2 ** 20).toFixed(1)} MiB (largest response ${(c.largestPageBytes / 2 ** 20).toFixed(1)} MiB), ${c.ms.toFixed(0)} ms.`);
  }
  if (r.refresh) lines.push(`- Refresh cycle (first to last token write): ${cycleDetails(r.refresh)}.`);
  if (r.latency) lines.push(`- Annotate-to-filled: p50 ${r.latency.p50Ms.toFixed(0)} ms, p99 ${r.latency.p99Ms.toFixed(0)} ms, max ${r.latency.maxMs.toFixed(0)} ms over ${r.latency.samplesMs.length} probes, one at a time, after the refresh cycle.`);
  if (r.restart) {
    const due = r.restart.earliestDueAt;
    lines.push(`- Restart (graceful stop, new process): ready after ${s(r.restart.readySeconds)}, all ${int(r.restart.reconciledWaiting)} managed Secrets reconciled as "token still good" after ${s(r.restart.cycle.seconds)}; ${cycleDetails(r.restart.cycle)}. Earliest token due ${due ? due.toISOString() : 'n/a'}, window ended ${r.restart.windowEndedAt.toISOString()}${due && due < r.restart.windowEndedAt ? ' (OVERLAP: writes in the window may be legitimate refreshes)' : ''}.`);
  }
  if (r.loadedEnd) lines.push(`- Loaded controller at the end (after cold start, refresh, latency): RSS ${mib(r.loadedEnd.memory.rssMiB)}, peak ${mib(r.loadedEnd.memory.peakRssMiB)}; heap peak used ${mib(r.loadedEnd.heap.peakUsedMiB)}, retained ${mib(r.loadedEnd.heap.retainedMiB)}.`);
  if (r.stsBench) lines.push(`- Token-service bench: ${r.stsBench}`);
  if (r.providerBench) lines.push(`- Credential-provider bench: ${r.providerBench}`);
  if (r.proxyBench) lines.push(`- Proxy streaming bench: ${r.proxyBench}`);
  if (r.imageBench) lines.push(`- Image size: ${r.imageBench}`);
  for (const note of r.notes) lines.push(`- ${note}`);
  lines.push('');
  return lines.join('\n');
}
