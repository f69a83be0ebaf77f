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

/** The instructions of each stage, by stage name (the last stage is `final`). */
function stages(): Map<string, typeof instructions> {
  const byName = new Map<string, typeof instructions>();
  let current: typeof instructions = [];
  instructions.forEach((instruction, i) => {
    if (instruction.keyword !== 'FROM') return void current.push(instruction);
    current = [];
    const isLast = !instructions.slice(i + 1).some((later) => later.keyword === 'FROM');
    byName.set(isLast ? 'final' : (/\bAS\s+(\S+)/i.exec(instruction.args)?.[1] ?? `stage-${i}`), current);
  });
  return byName;
}

it('installs from the lockfile, and the image gets production dependencies only', () => {
  const all = stages();
  for (const [name, stage] of all) {
    for (const install of stage.filter((i) => i.keyword === 'RUN' && /\bnpm (ci|install|i)\b/.test(i.args))) {
      assert.match(install.args, /npm ci\b/, `stage ${name}: use npm ci so the lockfile decides`);
    }
  }
  const final = all.get('final') ?? [];
  assert.ok(!final.some((i) => i.keyword === 'RUN' && /\bnpm\b/.test(i.args)), 'the final stage installs nothing itself');
  const modules = final.find((i) => i.keyword === 'COPY' && /node_modules/.test(i.args));
  const from = /--from=(\S+)/.exec(modules?.args ?? '')?.[1];
  assert.ok(from, 'node_modules must come from an install stage');
  const installs = (all.get(from) ?? []).filter((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
  assert.ok(installs.length > 0 && installs.every((i) => /--omit=dev/.test(i.args)), `stage ${from}: dev dependencies must stay out of the image`);
});

it('ships JavaScript compiled by the build stage, with no TypeScript sources', () => {
  const all = stages();
  assert.ok((all.get('build') ?? []).some((i) => i.keyword === 'RUN' && /npm run build\b/.test(i.args)), 'the build stage compiles with npm run build');
  const final = all.get('final') ?? [];
  assert.ok(final.some((i) => i.keyword === 'COPY' && /^--from=build\s+\/app\/dist\s/.test(i.args)), 'dist comes from the build stage');
  assert.ok(!final.some((i) => i.keyword === 'COPY' && /(^|\s)src\b/.test(i.args)), 'no TypeScript sources in the image');
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
