// `kube-regcred sts` as a process: configuration from the environment, serving, and a graceful exit
// on SIGTERM (exit code 0, shutdown logged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { baseConfig, createSigningMaterial, createTestIssuer, writeConfig, SERVICE } from './sts-fixtures.ts';
import { builtCli } from '../support/cli.ts';
import { scratchDir } from '../support/scratch.ts';

const CLI = await builtCli();

test('starts from KUBE_REGCRED_STS_* variables, serves, and exits 0 on SIGTERM', async () => {
  const a = await createTestIssuer('a');
  const b = await createTestIssuer('b');
  const dir = scratchDir('sts-cli-');
  const configPath = writeConfig(dir, baseConfig(a, b, createSigningMaterial('ec', dir)));
  const child = spawn(process.execPath, [CLI, 'sts'], {
    env: { ...process.env, KUBE_REGCRED_STS_CONFIG: configPath, KUBE_REGCRED_STS_LISTEN_ADDRESS: '127.0.0.1:0', KUBE_REGCRED_STS_OPS_ADDRESS: '127.0.0.1:0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const { port, opsPort } = await new Promise<{ port: number; opsPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 20 s; output: ${lines.join('\n')}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg: string; port: number; opsPort: number };
      if (entry.msg === 'token service listening') {
        clearTimeout(timer);
        resolve(entry);
      }
    });
  });
  const res = await fetch(`http://127.0.0.1:${port}/sts/exchange?aud=${SERVICE}&identity=builder`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await a.sign('system:serviceaccount:ci:builder')}` },
  });
  assert.equal(res.status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status, 200);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, `expected exit code 0; output: ${lines.join('\n')}`);
  assert.ok(lines.some((line) => line.includes('token service stopped')));
});
