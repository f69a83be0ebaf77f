// `kube-regcred proxy` as a process: --help, a clear exit 2 on bad flags, exit 1 when it cannot start,
// and from KUBE_REGCRED_PROXY_* variables to serving challenges and a graceful exit 0 on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createSigningMaterial } from './sts-fixtures.ts';
import { builtCli } from '../support/cli.ts';
import { scratchDir } from '../support/scratch.ts';

const run = promisify(execFile);
const CLI = await builtCli();

async function exitOf(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('--help lists every flag with its variable; bad flags exit 2; an unreadable key file exits 1', async () => {
  const help = await exitOf(['proxy', '--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--upstream', '--realm', '--service', '--token-issuer', '--token-jwks-url', '--token-keys-file', '--upstream-credentials-file', '--external-url']) {
    assert.ok(help.stdout.includes(flag), `${flag} missing from --help`);
  }
  assert.match(help.stdout, /KUBE_REGCRED_PROXY_UPSTREAM\b/);
  const missing = await exitOf(['proxy']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^kube-regcred proxy: --upstream \(KUBE_REGCRED_PROXY_UPSTREAM\) is required/);
  const common = ['proxy', '--upstream', 'http://127.0.0.1:9', '--realm', 'http://127.0.0.1:9/token', '--service', 's', '--token-issuer', 'i', '--listen-address', '127.0.0.1:0', '--ops-address', '127.0.0.1:0'];
  const noFile = await exitOf([...common, '--token-keys-file', '/nonexistent/keys.pem']);
  assert.equal(noFile.code, 1);
  assert.match(noFile.stderr, /cannot start: --token-keys-file: cannot read \/nonexistent\/keys.pem \(ENOENT\)/);
});

test('starts from KUBE_REGCRED_PROXY_* variables, challenges, and exits 0 on SIGTERM', async () => {
  const dir = scratchDir('proxy-cli-');
  try {
    const material = createSigningMaterial('ec', dir);
    const child = spawn(process.execPath, [CLI, 'proxy'], {
      env: {
        PATH: process.env.PATH ?? '',
        KUBE_REGCRED_PROXY_UPSTREAM: 'http://127.0.0.1:9',
        KUBE_REGCRED_PROXY_REALM: 'https://sts.example.com/token',
        KUBE_REGCRED_PROXY_SERVICE: 'registry.example.com',
        KUBE_REGCRED_PROXY_TOKEN_ISSUER: 'kube-regcred-sts',
        KUBE_REGCRED_PROXY_TOKEN_KEYS_FILE: material.leaf.certFile,
        KUBE_REGCRED_PROXY_LISTEN_ADDRESS: '127.0.0.1:0',
        KUBE_REGCRED_PROXY_OPS_ADDRESS: '127.0.0.1:0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const { port, opsPort } = await new Promise<{ port: number; opsPort: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line within 20 s; output: ${lines.join('\n')}`)), 20_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        const entry = JSON.parse(line) as { msg: string; port: number; opsPort: number };
        if (entry.msg === 'registry proxy listening') {
          clearTimeout(timer);
          resolve(entry);
        }
      });
    });
    const res = await fetch(`http://127.0.0.1:${port}/v2/team/app/manifests/latest`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="https://sts.example.com/token",service="registry.example.com",scope="repository:team/app:pull"');
    assert.equal((await fetch(`http://127.0.0.1:${opsPort}/readyz`)).status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(lines.some((line) => line.includes('"msg":"registry proxy stopped"')), 'shutdown logged');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
