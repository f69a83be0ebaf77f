// bench/hostile.ts's results as markdown: the figures of issue 17's failure 3 with its goal, the machine
// and versions, the LIST/WATCH traffic of each refresh cycle (issue 16), then the details. Pure.
import type { HeapStats, ProcessMemory } from './controller-process.ts';
import type { Environment } from './environment.ts';
import type { HostileStatus } from './hostile-workload.ts';
import type { TokenCoverage } from './token-coverage.ts';
import type { CycleResult } from './measure.ts';
import { cycleDetails } from './report.ts';
import { describeTraffic, type Traffic } from './traffic.ts';
import type { WorkloadShape } from './workload.ts';

export interface HostileResults {
  env: Environment;
  shape: WorkloadShape;
  hostile: number;
  hostileBytes: number;
  tokenLifetimeSeconds: number;
  limitMiB: number;
  controllerNodeFlags?: string[];
  creation: Record<string, { count: number; seconds: number }>;
  coldStart?: { cycle: CycleResult; memory: ProcessMemory; heap: HeapStats };
  refreshes: Array<{ label: string; cycle: CycleResult; traffic: Traffic; hostileReportedDuring: number }>;
  /** From the last hostile Secret created until every one was reported (the error metric). */
  allReportedSeconds?: number;
  /** From the end of the cold start until the end: did every valid Secret hold a live token? */
  coverage?: TokenCoverage;
  /** Token writes to valid Secrets (bench watch) from the end of the cold start until every hostile one was reported. */
  tokenWritesWhileReporting?: number;
  end?: { memory: ProcessMemory; heap: HeapStats };
  metricTooLarge?: number;
  status?: HostileStatus;
  failures: string[];
  notes: string[];
  totalSeconds: number;
}

const int = (n: number) => n.toLocaleString('en-US');
const mib = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${n.toFixed(0)} MiB`);
const yes = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'yes' : 'no');

export function renderHostileReport(r: HostileResults): string {
  const e = r.env;
  const managed = r.shape.namespaces * r.shape.secretsPerNamespace;
  const peak = r.end?.memory.peakRssMiB;
  const refreshedAll = r.refreshes.length === 1 && r.refreshes.every((x) => x.cycle.writes.changedSecrets >= managed);
  const c = r.coverage;
  const st = r.status;
  const lines: string[] = ['# kube-regcred controller: hostile tenants beside the bench workload', ''];
  lines.push(`${e.date} · ${e.cores} cores (${e.cpuModel}), ${e.memoryGiB} GiB · Node ${e.node} · kube-apiserver ${e.kubeApiserver} · etcd ${e.etcd} · whole run ${r.totalSeconds.toFixed(0)} s`, '');
  for (const note of r.notes) lines.push(`**${note}**`, '');
  for (const failure of r.failures) lines.push(`**FAILED: ${failure}**`, '');
  lines.push('| figure | measured | goal | met |', '|---|---|---|---|');
  lines.push(`| Controller peak RSS (VmHWM) over the whole run, ${int(r.hostile)} hostile Secrets of ${int(r.hostileBytes)} bytes + ${int(managed)} annotated + ${int(r.shape.unrelated)} unrelated | ${mib(peak)} | < ${r.limitMiB} MiB (the shipped limit) | ${yes(peak === undefined ? undefined : peak < r.limitMiB)} |`);
  lines.push(`| Valid Secrets filled by the cold start · token writes to them from then until every hostile one was reported · new token in the quiet refresh cycle after | ${r.coldStart ? int(r.coldStart.cycle.writes.changedSecrets) : 'n/a'} · ${r.tokenWritesWhileReporting === undefined ? 'n/a' : int(r.tokenWritesWhileReporting)} · ${r.refreshes[0] ? int(r.refreshes[0].cycle.writes.changedSecrets) : 'n/a'} of ${int(managed)} | all | ${yes(r.refreshes.length === 0 ? undefined : refreshedAll)} |`);
  lines.push(`| Valid Secrets without a live token (none, or past its exp), sampled every second from the end of the cold start to the end: most at once · Secret-seconds · longest stretch | ${c ? `${int(c.maxWithoutLiveToken)} · ${int(Math.round(c.secretSecondsWithoutLiveToken))} · ${c.longestGapSeconds.toFixed(0)} s (${int(c.samples)} samples)` : 'n/a'} | 0 | ${yes(c ? c.maxWithoutLiveToken === 0 : undefined)} |`);
  lines.push(`| Hostile Secrets with last-error \`DockerConfigTooLarge: …\` | ${st ? `${int(st.lastErrorTooLarge)} of ${int(st.secrets)}` : 'n/a'} | all | ${yes(st ? st.lastErrorTooLarge === r.hostile : undefined)} |`);
  lines.push(`| Warning Events InvalidSecret on hostile Secrets: Events / distinct Secrets / sum of counts (naming the cap) | ${st ? `${int(st.events)} / ${int(st.eventSecrets)} / ${int(st.eventCount)} (${int(st.eventsNamingCap)})` : 'n/a'} | one per Secret, reported once | ${yes(st ? st.eventSecrets === r.hostile && st.eventCount === r.hostile : undefined)} |`);
  lines.push(`| kube_regcred_errors_total{code="DockerConfigTooLarge"} at the end | ${r.metricTooLarge === undefined ? 'n/a' : int(r.metricTooLarge)} | ${int(r.hostile)} (once each) | ${yes(r.metricTooLarge === undefined ? undefined : r.metricTooLarge === r.hostile)} |`);
  lines.push(`| Time from the last hostile Secret created until all ${int(r.hostile)} were reported | ${r.allReportedSeconds === undefined ? 'n/a' : `${r.allReportedSeconds.toFixed(0)} s`} | — (reported) | n/a |`);
  for (const x of r.refreshes) {
    const t = x.traffic;
    lines.push(`| ${x.label}: LIST / WATCH requests started (all clients) · controller bytes down / up (hostile Secrets reported meanwhile) | ${int(Object.values(t.lists).reduce((a, b) => a + b, 0))} / ${int(Object.values(t.watches).reduce((a, b) => a + b, 0))} · ${(t.bytesDown / 2 ** 20).toFixed(2)} MiB / ${(t.bytesUp / 2 ** 20).toFixed(2)} MiB (${int(x.hostileReportedDuring)}) | — (reported, issue 16) | n/a |`);
  }
  lines.push('', '## Set-up', '');
  lines.push(`- The bench workload (bench/workload.ts) without its probes: ${int(managed)} annotated Secrets in ${r.shape.namespaces} namespaces (${r.shape.identities} identities), ${int(r.shape.unrelated)} unrelated Secrets of 8 KiB. Registry tokens live ${r.tokenLifetimeSeconds} s.`);
  lines.push(`- ${int(r.hostile)} hostile Secrets: \`kubernetes.io/dockerconfigjson\`, annotated with a valid identity, a valid Docker config of ${int(r.hostileBytes)} bytes (random, so incompressible), 20 per namespace under the bench's names. Half exist before the controller starts (its paged LIST reads them), half are created after its cold start (its WATCH reads them), 4 at a time.`);
  lines.push(`- Controller: the compiled CLI as the image runs it (\`node ${(r.controllerNodeFlags ?? []).join(' ')} main.js controller\`), cluster-wide, --concurrency 4, under manifests/base's RBAC plus the secret-names grant, reaching the apiserver through a counting TCP proxy. etcd runs with an 8 GiB quota (the hostile data is stored twice).`);
  lines.push('- Memory: VmHWM of the controller process over the whole run (/proc/<pid>/status). Traffic: LIST and WATCH counts from the apiserver\'s apiserver_request_total (at the end of a request) and apiserver_longrunning_requests (open watches), all clients (the bench makes no LIST and keeps one watch open during a refresh cycle); bytes at the proxy, the controller\'s alone, TLS included.');
  lines.push('', '## Details', '');
  for (const [what, c] of Object.entries(r.creation)) lines.push(`- Created ${what}: ${int(c.count)} in ${c.seconds.toFixed(1)} s; not a figure.`);
  if (r.coldStart) lines.push(`- Cold start (with ${int(Math.floor(r.hostile / 2))} hostile Secrets present): ${cycleDetails(r.coldStart.cycle)}; peak RSS ${mib(r.coldStart.memory.peakRssMiB)}, heap peak used ${mib(r.coldStart.heap.peakUsedMiB)}.`);
  for (const x of r.refreshes) lines.push(`- ${x.label}: ${cycleDetails(x.cycle)}; ${int(x.hostileReportedDuring)} hostile Secrets reported meanwhile. Traffic: ${describeTraffic(x.traffic)}.`);
  if (r.end) lines.push(`- Controller at the end: RSS ${mib(r.end.memory.rssMiB)}, peak ${mib(r.end.memory.peakRssMiB)}; V8 heap peak used ${mib(r.end.heap.peakUsedMiB)}, committed peak ${mib(r.end.heap.peakCommittedMiB)}, retained after the last full GC ${mib(r.end.heap.retainedMiB)}, ${r.end.heap.fullGcs} full GCs.`);
  return `${lines.join('\n')}\n`;
}
