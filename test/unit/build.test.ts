// The image runs what `npm run build` compiles (tsconfig.build.json), not the TypeScript the tests
// run: this compiles it the same way and runs the result, so a build that breaks (an import that is
// not rewritten, a type-only construct tsc cannot emit) fails here rather than in a cluster.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

describe('npm run build', () => {
  // Inside the checkout, so the compiled files resolve node_modules as they do in the image.
  const outDir = mkdtempSync(join(root, '.build-test-'));
  const files: string[] = [];

  before(async () => {
    await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], { cwd: root });
    files.push(...(readdirSync(outDir, { recursive: true, encoding: 'utf8' }) as string[]));
  });

  after(() => rmSync(outDir, { recursive: true, force: true }));

  it('emits JavaScript only, importing no .ts file', () => {
    assert.ok(files.includes('main.js'));
    assert.ok(!files.some((f) => f.endsWith('.ts')), 'no TypeScript in the output');
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      assert.doesNotMatch(readFileSync(join(outDir, file), 'utf8'), /from ['"][^'"]+\.ts['"]|import\(['"][^'"]+\.ts['"]\)/, `${file} imports a .ts file`);
    }
  });

  it('imports only production dependencies (the image has no others)', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const imported = new Set<string>();
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(join(outDir, file), 'utf8');
      for (const match of code.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const specifier = match[1] ?? match[2];
        if (specifier && !specifier.startsWith('.') && !specifier.startsWith('node:')) imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
      }
    }
    assert.ok(imported.has('pino'), 'the scan finds bare imports');
    for (const name of imported) assert.ok(Object.hasOwn(pkg.dependencies, name), `${name} is imported at run time but is not a production dependency`);
  });

  for (const subcommand of ['controller', 'sts']) {
    it(`runs: ${subcommand} --help`, async () => {
      const { stdout } = await run(process.execPath, [join(outDir, 'main.js'), subcommand, '--help'], { cwd: root });
      assert.match(stdout, new RegExp(`kube-regcred ${subcommand}`));
    });
  }
});
