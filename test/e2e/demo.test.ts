// The README's first command must work: `npm run demo` fills, uses and refreshes a pull secret, and
// Ctrl-C stops every component it started.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { nodeSkipReason } from '../support/node.ts';
import { waitFor } from '../support/wait.ts';

const DEMO = join(import.meta.dirname, '..', '..', 'hack', 'demo.ts');

function runDemo(args: string[]) {
  const child = spawn(process.execPath, [DEMO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

it('fills the Secret, pulls with it, refreshes it and pulls again (--once)', async () => {
  const demo = runDemo(['--once', '--token-lifetime', '30s']);
  const code = await demo.exited;
  const output = demo.output();
  assert.equal(code, 0, `the demo failed:\n${output}`);
  // On a machine that can run the node, a Pod pulls; elsewhere the demo says why and skopeo pulls.
  const pulled = nodeSkipReason()
    ? [/skopeo pulled .* \(first token\)/, /skopeo pulled .* \(after refresh #1\)/]
    : [/node bed-node-\w+ registered/, /Pod demo\/hello-1 Running in \d+ ms: the kubelet pulled .* \(first token\)/, /Pod demo\/hello-2 Running in \d+ ms: .* \(after refresh #1\)/];
  for (const line of [/Secret filled in \d+ ms/, /refresh #1: new token written/, ...pulled, /\] stopped$/m]) {
    assert.match(output, line);
  }
});

it('tells the user how to look with kubectl, which works while it runs, and stops every component on Ctrl-C', async () => {
  const demo = runDemo([]);
  await waitFor(() => /Secret filled in/.test(demo.output()) || undefined, { description: 'the demo filled its Secret', timeoutMs: 90_000 });
  const kubeconfig = /export KUBECONFIG=(\S+)/.exec(demo.output())?.[1];
  assert.ok(kubeconfig, `the demo printed no KUBECONFIG:\n${demo.output()}`);
  assert.match(demo.output(), /kubectl -n demo describe secret pull-secret/);
  const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, '-n', 'demo', 'get', 'secret', 'pull-secret', '-o', 'jsonpath={.metadata.annotations}']);
  assert.match(stdout, /kube-regcred\.io\/expires-at/);
  const server = /control plane up at (https:\/\/127\.0\.0\.1:\d+)/.exec(demo.output())?.[1];
  assert.ok(server, 'the demo printed the control plane address');
  demo.child.kill('SIGINT');
  assert.equal(await demo.exited, 0, `Ctrl-C should stop the demo cleanly:\n${demo.output()}`);
  assert.match(demo.output(), /\] stopped$/m);
  const stillUp = await fetch(`${server}/readyz`).then(() => true, () => false);
  assert.equal(stillUp, false, 'kube-apiserver still answers after the demo stopped');
});
