// The Dockerfile's promises, read from the file itself: test/integration/image.test.ts builds it (with
// buildah on local bases) and checks the built image; these say what a `docker build` anywhere gets.
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

/** The default of each ARG before the first FROM: the public base images. */
const argDefaults = new Map(
  instructions
    .slice(0, instructions.findIndex((i) => i.keyword === 'FROM'))
    .filter((i) => i.keyword === 'ARG')
    .map((i) => i.args.split('=') as [string, string]),
);
/** A FROM's image with its ${ARG} replaced by the ARG's default and any --platform flag dropped. */
const baseOf = (from: string): string =>
  from
    .split(/\s+/)
    .filter((word) => !word.startsWith('--'))[0]!
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => argDefaults.get((a ?? b)!) ?? '');
const froms = instructions.filter((i) => i.keyword === 'FROM');

it('builds in stages from the Node the project pins, and runs on a distroless base without a shell', () => {
  assert.ok(froms.length >= 2, `expected a multi-stage build, got ${froms.length} FROM`);
  const pinned = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies['node'];
  const nodeImage = argDefaults.get('NODE_IMAGE') ?? '';
  assert.ok(nodeImage.startsWith(`node:${pinned}-`), `NODE_IMAGE ${nodeImage} should be the official image of Node ${pinned} (devDependencies.node)`);
  for (const from of froms.slice(0, -1)) assert.equal(baseOf(from.args), nodeImage, `stage FROM ${from.args}`);
  assert.match(baseOf(froms.at(-1)!.args), /^gcr\.io\/distroless\/cc-debian12:nonroot$/);
  const final = stages().get('final') ?? [];
  assert.ok(!final.some((i) => i.keyword === 'RUN'), 'the runtime base has no shell: the final stage cannot RUN');
  assert.ok(final.some((i) => i.keyword === 'COPY' && /^--from=\S+\s+\/usr\/local\/bin\/node\s+\/usr\/local\/bin\/node$/.test(i.args)), 'node comes from a Node stage');
});

it('runs as the numeric non-root user 65532, with node as its entrypoint', () => {
  const final = stages().get('final') ?? [];
  assert.equal(final.filter((i) => i.keyword === 'USER').at(-1)?.args, '65532:65532');
  assert.equal(final.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)?.args, '["/usr/local/bin/node", "/app/dist/main.js"]');
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
  // A build that bundles its dependencies into dist/ ships no node_modules at all (the image test
  // proves it runs); one that does not must take them from a production install.
  if (!modules) return;
  const from = /--from=(\S+)/.exec(modules.args)?.[1];
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
