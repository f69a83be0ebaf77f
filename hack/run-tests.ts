// `npm test`: type-checks, starts one shared test bed control plane, runs every test file with node:test,
// stops the bed. Extra arguments select test files (default: all of test/).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane } from '../test/support/control-plane.ts';
import { sweepStaleNodes } from '../test/support/node-host.ts';
import { logTail } from '../test/support/process.ts';
import { TESTBED_ENV } from '../test/support/testbed.ts';
import { CLI_ENV } from '../test/support/cli.ts';
import { buildMain } from './build.ts';

const patterns = process.argv.slice(2);
const files = patterns.length > 0 ? patterns : ['test/**/*.test.ts'];

if (!process.env.KUBE_REGCRED_SKIP_TYPECHECK) {
  const started = Date.now();
  const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  if (tsc.status !== 0) {
    console.error('typecheck failed (tsc -p tsconfig.json): fix the errors above');
    process.exit(1);
  }
  console.log(`typecheck: ok (${Date.now() - started} ms)`);
}

// The tests that start `kube-regcred` as a process run the production build (test/support/cli.ts).
const buildStarted = Date.now();
const cliDir = mkdtempSync(join(import.meta.dirname, '..', '.build-cli-'));
process.env[CLI_ENV] = await buildMain(cliDir);
console.log(`build: dist/main.js as npm run build makes it, in ${Date.now() - buildStarted} ms`);

const started = Date.now();
const cp = await startControlPlane();
console.log(`test bed: kube-apiserver + etcd up in ${Date.now() - started} ms at ${cp.server} (logs: ${cp.logDir})`);
const infoDir = mkdtempSync(join(tmpdir(), 'kube-regcred-run-'));
const infoFile = join(infoDir, 'control-plane.json');
const { kubeConfig: _k, writeKubeconfig: _w, stop: _s, releaseAtExit: _r, ...info } = cp;
writeFileSync(infoFile, JSON.stringify(info), { mode: 0o600 });

// Two files at a time: most of a test's time is spent waiting on real components, and there are two cores.
const concurrency = process.env.KUBE_REGCRED_TEST_CONCURRENCY ?? '2';
const runner = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
  { stdio: 'inherit', env: { ...process.env, [TESTBED_ENV]: infoFile } },
);
const stopRunner = (signal: NodeJS.Signals): void => {
  runner.kill(signal);
};
process.on('SIGINT', stopRunner);
process.on('SIGTERM', stopRunner);

const code = await new Promise<number>((resolve) => runner.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
if (code !== 0) {
  // The shared components' side of the story, for failures that came from the control plane.
  for (const [name, file] of [['etcd', cp.etcdLog], ['kube-apiserver', cp.apiserverLog]] as const) {
    console.error(`\n--- ${name}: last lines of ${file} ---\n${logTail(file, 15)}`);
  }
}
// Every test process has exited: a node still on disk belongs to one that was killed mid-test.
const swept = await sweepStaleNodes();
if (swept.length > 0) console.log(`test bed: removed what killed test processes left of nodes ${swept.join(', ')}`);
await cp.stop();
rmSync(infoDir, { recursive: true, force: true });
rmSync(cliDir, { recursive: true, force: true });
process.exit(code);
