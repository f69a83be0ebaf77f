// The baseline: a bare client that does only the writes the controller has to do. It lists the
// annotated Secrets once (label-selected: it knows which ones), then merge-patches each with the body
// the controller writes (a dockerconfigjson holding one registry token, the expires-at/refreshed-at
// annotations, the resourceVersion precondition) at the controller's concurrency, as the controller's
// own ServiceAccount, with node:https and a keep-alive pool. Run as a child process (its own event
// loop, like the controller):
//   node bench/baseline-client.ts < config.json     → prints one JSON line of timings to stdout
import { text } from 'node:stream/consumers';
import { patchBody, type BaselineConfig, type BaselineResult, type ListedSecret, type TokenMemo } from './baseline-body.ts';
import { createKubeHttp, MERGE_PATCH } from './kube-http.ts';
import { forEachConcurrent } from './pool.ts';

async function runHttps(config: BaselineConfig): Promise<BaselineResult> {
  const http = createKubeHttp({ server: config.server, caPem: config.caPem, token: config.token, maxSockets: config.concurrency });
  const listStart = performance.now();
  const list = await http.ok<{ items: ListedSecret[] }>('GET', `/api/v1/secrets?labelSelector=${encodeURIComponent(config.labelSelector)}`);
  const listMs = performance.now() - listStart;
  const tokens: TokenMemo = new Map();
  let failed = 0;
  const patchStart = performance.now();
  await forEachConcurrent(list.items, config.concurrency, async (secret) => {
    const { namespace, name } = secret.metadata ?? {};
    const path = `/api/v1/namespaces/${namespace}/secrets/${name}?fieldManager=${encodeURIComponent(config.fieldManager)}`;
    const res = await http.call('PATCH', path, patchBody(secret, config, tokens), MERGE_PATCH);
    if (res.status !== 200) failed++;
  });
  const patchMs = performance.now() - patchStart;
  http.close();
  const usage = process.resourceUsage();
  return { listMs, patchMs, patched: list.items.length - failed, failed, maxRssMiB: usage.maxRSS / 1024, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 };
}

if (import.meta.main) {
  const config = JSON.parse(await text(process.stdin)) as BaselineConfig;
  const result = await runHttps(config);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = result.failed === 0 ? 0 : 1;
}
