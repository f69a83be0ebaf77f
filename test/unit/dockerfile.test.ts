// The image cannot be built on the CI machines (no container engine, no registry for the base image),
// so its Dockerfile is checked for the properties the README promises.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';

const root = join(import.meta.dirname, '..', '..');
const lines = readFileSync(join(root, 'Dockerfile'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const instructions = lines.map((line) => {
  const [keyword, ...rest] = line.split(/\s+/);
  return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
});

it('builds in stages from a Node 24 base', () => {
  const bases = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.args.split(' ')[0]!);
  assert.ok(bases.length >= 2, `expected a multi-stage build, got FROM ${bases.join(', ')}`);
  for (const base of bases) assert.match(base, /^node:24[-.]/, `base image ${base} is not Node 24`);
});

it('installs production dependencies only, from the lockfile', () => {
  const installs = instructions.filter((i) => i.keyword === 'RUN' && /\bnpm\b/.test(i.args));
  assert.ok(installs.length > 0, 'no npm install step');
  for (const install of installs) {
    assert.match(install.args, /npm ci\b/, 'use npm ci so the lockfile decides');
    assert.match(install.args, /--omit=dev/, 'dev dependencies must stay out of the image');
  }
});

it('runs as a numeric non-root user with the CLI as entrypoint', () => {
  const users = instructions.filter((i) => i.keyword === 'USER');
  const user = users.at(-1)?.args ?? '';
  assert.match(user, /^[1-9]\d*(:\d+)?$/, `final USER must be numeric and not root, got "${user}"`);
  const entrypoint = instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args ?? '';
  assert.deepEqual(JSON.parse(entrypoint), ['node', '/app/bin/kube-regcred.js']);
});

it('copies only paths that exist, and those are not ignored by .dockerignore', () => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  for (const copy of instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const source of sources) {
      assert.ok(existsSync(join(root, source)), `COPY source ${source} does not exist`);
      assert.ok(!ignored.includes(source), `COPY source ${source} is excluded by .dockerignore`);
    }
  }
});
