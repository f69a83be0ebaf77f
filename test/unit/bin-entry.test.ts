// `node bin/kube-regcred.js` is what a user types first: on Node 24 it runs the CLI, on an older Node it
// says in one line what is needed and how to run it instead of failing on the ".ts" extension.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'kube-regcred.js');

// The machine's own Node, not the Node 24 that npm put first on PATH for this run.
const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
  if (!existsSync(path)) return false;
  const major = Number(execFileSync(path, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim());
  return major < 24;
});

it('on Node 24 it runs the CLI', () => {
  const result = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^Usage: kube-regcred <subcommand>/);
});

it('on an older Node it refuses with one line naming the version needed and how to run it', { skip: systemNode ? false : 'no Node.js older than 24 on this machine' }, () => {
  const result = spawnSync(systemNode!, [BIN, '--help'], { encoding: 'utf8' });
  assert.equal(result.status, 2);
  assert.equal(result.stdout, '');
  const lines = result.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, /needs Node\.js 24\.11 or newer, and this is v\d+/);
  assert.match(lines[0]!, /npm start -- <subcommand>/);
});
