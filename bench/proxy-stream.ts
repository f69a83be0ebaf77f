// Benchmark of `kube-regcred proxy` streaming: a 1 GiB blob pushed (POST + one streaming PATCH + PUT)
// and pulled (GET), directly to a Distribution registry without auth and through the proxy in front
// of it, two rounds each, alternating. Reports throughput as a ratio to the direct transfer and the
// proxy's RSS (sampled from /proc every 50 ms, and VmHWM) before, during and after.
// The blob is generated on the fly from a 4 MiB random buffer (nothing written by the bench itself);
// the registry's storage holds it once (same digest every time) and is removed at the end.
//   node bench/proxy-stream.ts         prints a markdown table, writes bench/results/proxy.md
//   BENCH_PROXY_MIB=256 node bench/proxy-stream.ts   a smaller blob, written to proxy.md.tmp instead
import { createHash, randomFillSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createSigningKey } from '../src/sts/signing-key.ts';
import { mintRegistryToken } from '../src/sts/registry-token.ts';
import { createCertificateAuthority, issueCertificate } from '../test/support/pki.ts';
import { freePort } from '../test/support/ports.ts';
import { startComponent } from '../test/support/process.ts';
import { startRegistry } from '../test/support/registry.ts';
import { buildController, readProcessMemory } from './controller-process.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MIB = 1024 * 1024;
const SERVICE = 'registry.bench.test';
const ISSUER = 'kube-regcred-sts-bench';
const REPOSITORY = 'bench/blob';
const CHUNK = 4 * MIB;

export interface Transfer {
  path: 'direct' | 'proxy';
  direction: 'push' | 'pull';
  seconds: number;
  mibPerSecond: number;
}

export interface ProxyBenchResult {
  blobMiB: number;
  transfers: Transfer[];
  rss: { idleMiB: number; peakDuringPushMiB: number; peakDuringPullMiB: number; afterMiB: number; vmHwmMiB: number };
  node: string;
  date: string;
}

/** `mib` MiB of incompressible bytes: one random 4 MiB buffer, repeated. */
function blobStream(mib: number, buffer: Buffer): Readable {
  let left = Math.ceil((mib * MIB) / CHUNK);
  return new Readable({
    read() {
      this.push(left-- > 0 ? buffer : null);
    },
  });
}

function send(agent: Agent, url: string, method: string, headers: Record<string, string>, body?: Readable): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent }, resolve);
    req.on('error', reject);
    if (body) pipeline(body, req).catch(reject);
    else req.end();
  });
}

async function drain(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) if (text.length < 4096) text += String(chunk);
  return text;
}

/** The distribution spec's chunked upload with a single streaming PATCH; returns the digest. */
async function pushBlob(agent: Agent, origin: string, headers: Record<string, string>, mib: number, buffer: Buffer): Promise<string> {
  const start = await send(agent, `${origin}/v2/${REPOSITORY}/blobs/uploads/`, 'POST', { ...headers, 'content-length': '0' });
  await drain(start);
  if (start.statusCode !== 202) throw new Error(`upload start answered ${start.statusCode}`);
  const hash = createHash('sha256');
  const source = blobStream(mib, buffer).map((chunk: Buffer) => {
    hash.update(chunk);
    return chunk;
  });
  const patch = await send(agent, new URL(start.headers.location!, origin).href, 'PATCH', { ...headers, 'content-type': 'application/octet-stream' }, Readable.from(source));
  await drain(patch);
  if (patch.statusCode !== 202) throw new Error(`PATCH answered ${patch.statusCode}`);
  const digest = `sha256:${hash.digest('hex')}`;
  const finish = new URL(patch.headers.location!, origin);
  finish.searchParams.set('digest', digest);
  const put = await send(agent, finish.href, 'PUT', { ...headers, 'content-length': '0' });
  const text = await drain(put);
  if (put.statusCode !== 201) throw new Error(`PUT answered ${put.statusCode}: ${text.slice(0, 200)}`);
  return digest;
}

async function pullBlob(agent: Agent, origin: string, headers: Record<string, string>, digest: string): Promise<void> {
  const res = await send(agent, `${origin}/v2/${REPOSITORY}/blobs/${digest}`, 'GET', headers);
  if (res.statusCode !== 200) throw new Error(`GET blob answered ${res.statusCode}`);
  const hash = createHash('sha256');
  await pipeline(res, new Writable({ write(chunk: Buffer, _e, done) { hash.update(chunk); done(); } }));
  if (`sha256:${hash.digest('hex')}` !== digest) throw new Error('the pulled blob has another digest');
}

export async function runProxyBench(blobMiB: number): Promise<ProxyBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-proxy-bench-'));
  const stops: Array<() => Promise<void>> = [];
  try {
    const ca = createCertificateAuthority(dir, 'proxy bench CA');
    const signer = issueCertificate(ca, { commonName: 'proxy bench signer', keyType: 'ec' });
    const key = await createSigningKey({ keyPem: signer.keyPem, certificatePem: signer.certPem });
    const registry = await startRegistry({ auth: 'none' });
    stops.push(() => registry.stop());

    const nodeBinary = process.execPath;
    const script = buildController(ROOT, nodeBinary);
    stops.push(async () => rmSync(join(ROOT, '.build-bench'), { recursive: true, force: true }));
    const port = await freePort();
    const opsPort = await freePort();
    const proxy = await startComponent({
      name: 'kube-regcred proxy',
      command: nodeBinary,
      args: [
        script, 'proxy',
        '--upstream', registry.url,
        '--realm', 'http://127.0.0.1:1/token',
        '--service', SERVICE,
        '--token-issuer', ISSUER,
        '--token-keys-file', signer.certFile,
        '--listen-address', `127.0.0.1:${port}`,
        '--ops-address', `127.0.0.1:${opsPort}`,
        '--log-level', 'warn',
      ],
      logFile: join(dir, 'proxy.log'),
      ready: async () => (await fetch(`http://127.0.0.1:${opsPort}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200,
      startTimeoutMs: 30_000,
    });
    stops.push(() => proxy.stop());

    const { token } = await mintRegistryToken(
      { key, headerStyle: 'x5c', tokenIssuer: ISSUER, service: SERVICE },
      { subject: 'bench', access: [{ type: 'repository', name: REPOSITORY, actions: ['pull', 'push'] }], lifetimeMs: 3_600_000, now: new Date() },
    );
    const buffer = randomFillSync(Buffer.alloc(CHUNK));
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const origins = { direct: registry.url, proxy: `http://127.0.0.1:${port}` };
    const headers = { direct: {}, proxy: { authorization: `Bearer ${token}` } };

    // RSS sampled all along; each phase reads the peak of its own samples.
    let samples: number[] = [];
    const sampler = setInterval(() => samples.push(readProcessMemory(proxy.pid).rssMiB), 50);
    const phase = async <T>(work: () => Promise<T>): Promise<{ value: T; seconds: number; peakMiB: number }> => {
      samples = [];
      const started = performance.now();
      const value = await work();
      return { value, seconds: (performance.now() - started) / 1000, peakMiB: Math.max(...samples, readProcessMemory(proxy.pid).rssMiB) };
    };
    // Warm-up: a small blob through the proxy (JIT, sockets), so "idle" is the proxy at rest after work.
    await pushBlob(agent, origins.proxy, headers.proxy, 4, buffer);
    await new Promise((r) => setTimeout(r, 500));
    const idleMiB = readProcessMemory(proxy.pid).rssMiB;

    const transfers: Transfer[] = [];
    let digest = '';
    let peakDuringPushMiB = 0;
    let peakDuringPullMiB = 0;
    for (let round = 0; round < 2; round++) {
      for (const path of ['direct', 'proxy'] as const) {
        const pushed = await phase(() => pushBlob(agent, origins[path], headers[path], blobMiB, buffer));
        digest = pushed.value;
        transfers.push({ path, direction: 'push', seconds: pushed.seconds, mibPerSecond: blobMiB / pushed.seconds });
        if (path === 'proxy') peakDuringPushMiB = Math.max(peakDuringPushMiB, pushed.peakMiB);
      }
      for (const path of ['direct', 'proxy'] as const) {
        const pulled = await phase(() => pullBlob(agent, origins[path], headers[path], digest));
        transfers.push({ path, direction: 'pull', seconds: pulled.seconds, mibPerSecond: blobMiB / pulled.seconds });
        if (path === 'proxy') peakDuringPullMiB = Math.max(peakDuringPullMiB, pulled.peakMiB);
      }
    }
    clearInterval(sampler);
    agent.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const memory = readProcessMemory(proxy.pid);
    return {
      blobMiB,
      transfers,
      rss: { idleMiB, peakDuringPushMiB, peakDuringPullMiB, afterMiB: memory.rssMiB, vmHwmMiB: memory.peakRssMiB },
      node: process.version,
      date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

function best(result: ProxyBenchResult, path: Transfer['path'], direction: Transfer['direction']): number {
  return Math.max(...result.transfers.filter((t) => t.path === path && t.direction === direction).map((t) => t.mibPerSecond));
}

export function formatProxyBench(result: ProxyBenchResult): string {
  const rows = (['push', 'pull'] as const).map((direction) => {
    const direct = best(result, 'direct', direction);
    const proxied = best(result, 'proxy', direction);
    return `| ${direction} | ${direct.toFixed(0)} | ${proxied.toFixed(0)} | ${(proxied / direct).toFixed(2)} |`;
  });
  const { rss } = result;
  return [
    `# kube-regcred proxy: streaming a ${result.blobMiB >= 1024 ? `${result.blobMiB / 1024} GiB` : `${result.blobMiB} MiB`} blob`,
    '',
    `${result.date} · Node ${result.node} · Debian docker-registry 2.8 without auth, filesystem storage · loopback, client, proxy and registry on one 2-core machine.`,
    'Push: POST, one streaming PATCH, PUT with the digest; pull: GET. Best of two rounds, direct and proxied alternating.',
    'The proxy runs the compiled CLI as the image does (no Node flags: the proxy Deployment sets none).',
    '',
    '| transfer | direct MiB/s | through the proxy MiB/s | proxy ÷ direct |',
    '|---|---:|---:|---:|',
    ...rows,
    '',
    '| proxy RSS | MiB |',
    '|---|---:|',
    `| at rest after a warm-up transfer | ${rss.idleMiB.toFixed(0)} |`,
    `| peak while pushing (50 ms samples) | ${rss.peakDuringPushMiB.toFixed(0)} |`,
    `| peak while pulling (50 ms samples) | ${rss.peakDuringPullMiB.toFixed(0)} |`,
    `| after the transfers | ${rss.afterMiB.toFixed(0)} |`,
    `| VmHWM (peak of the whole run) | ${rss.vmHwmMiB.toFixed(0)} |`,
    '',
    'Every transfer, in order:',
    '',
    '| path | direction | seconds | MiB/s |',
    '|---|---|---:|---:|',
    ...result.transfers.map((t) => `| ${t.path} | ${t.direction} | ${t.seconds.toFixed(2)} | ${t.mibPerSecond.toFixed(0)} |`),
    '',
  ].join('\n');
}

if (import.meta.main) {
  const mib = Number(process.env.BENCH_PROXY_MIB ?? '1024');
  if (!(Number.isInteger(mib) && mib >= 16)) throw new Error(`BENCH_PROXY_MIB must be a whole number ≥ 16, got ${process.env.BENCH_PROXY_MIB}`);
  const result = await runProxyBench(mib);
  const report = formatProxyBench(result);
  process.stdout.write(report);
  const file = join(ROOT, 'bench', 'results', mib === 1024 ? 'proxy.md' : 'proxy.md.tmp');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, report);
  process.stdout.write(`written to ${file}\n`);
}
