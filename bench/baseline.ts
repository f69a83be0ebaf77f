// Runs the baseline client (bench/baseline-client.ts) as a child process and times it the way the
// controller's cold start is timed: from spawn until the bench's own watch has seen every Secret written.
import { join } from 'node:path';
import type { BaselineConfig, BaselineResult } from './baseline-body.ts';
import { runChild } from './children.ts';
import type { EpochCounts, SecretWatch } from './secret-watch.ts';

export interface BaselineRun {
  /** Spawn → every annotated Secret seen written by the watch, seconds. */
  seconds: number;
  /** The client's own view: its LIST, then its patches. */
  client: BaselineResult;
  counts: EpochCounts;
  /** kube-apiserver's CPU seconds from spawn until the last write was seen. */
  apiserverCpuSeconds: number;
}

export async function runBaseline(options: {
  root: string;
  nodeBinary: string;
  config: BaselineConfig;
  watch: SecretWatch;
  secrets: number;
  timeoutMs: number;
  /** kube-apiserver's CPU seconds since it started (measure.ts apiserverCpuSeconds). */
  apiserverCpu: () => Promise<number>;
}): Promise<BaselineRun> {
  const { watch } = options;
  watch.beginEpoch();
  const cpuBefore = await options.apiserverCpu();
  const started = Date.now();
  const child = runChild(options.nodeBinary, [join(options.root, 'bench', 'baseline-client.ts')], {
    cwd: options.root,
    // The config holds a ServiceAccount token: on stdin, never in a file.
    input: JSON.stringify(options.config),
  });
  const seen = watch.until(`baseline wrote all ${options.secrets} Secrets`, () => watch.counts().changedSecrets >= options.secrets, options.timeoutMs);
  seen.catch(() => undefined); // awaited below; a failed child must not leave it unhandled
  const result = await child;
  if (result.code !== 0) {
    throw new Error(`baseline client exited with ${result.signal ?? result.code}: ${result.stderr.trim().slice(-2000)} ${result.stdout.trim().slice(-500)}`);
  }
  const seenAt = await seen;
  const apiserverCpuSeconds = (await options.apiserverCpu()) - cpuBefore;
  const seconds = (seenAt - started) / 1000;
  const client = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as BaselineResult;
  return { seconds, client, counts: watch.counts(), apiserverCpuSeconds };
}
