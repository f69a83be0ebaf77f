// The image runs what `npm run build` makes (hack/build.ts: src/ and its dependencies bundled by esbuild
// into dist/main.js and its chunks), not the TypeScript the tests run: this builds it the same way and
// runs the result, so a build that breaks (a dependency that cannot be bundled, a chunk that does not
// load) fails here rather than in a cluster. It replaces the test of the tsc build that came before.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildMain } from '../../hack/build.ts';
import { scratchDir } from '../support/scratch.ts';

const run = promisify(execFile);

describe('npm run build', () => {
  // Outside the checkout: the build must run with no node_modules next to it.
  const outDir = scratchDir('kube-regcred-build-test-');
  const files: string[] = [];
  let main = '';

  before(async () => {
    main = await buildMain(outDir);
    files.push(...(readdirSync(outDir, { recursive: true, encoding: 'utf8' }) as string[]));
  });

  after(() => rmSync(outDir, { recursive: true, force: true }));

  it('emits JavaScript only: main.js and its chunks', () => {
    assert.ok(files.includes('main.js'));
    assert.ok(!files.some((f) => f.endsWith('.ts')), 'no TypeScript in the output');
  });

  it('imports nothing but Node modules and its own chunks (dist/ needs no node_modules)', () => {
    const imported = new Set<string>();
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(join(outDir, file), 'utf8');
      for (const match of code.matchAll(/(?:^|[;}\n])\s*(?:import|export)\s*(?:[\w${},*\s]+?\s*from\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g)) {
        const specifier = match[1] ?? match[2];
        if (specifier) imported.add(specifier);
      }
    }
    assert.ok(imported.has('node:module'), 'the scan finds imports');
    for (const specifier of imported) {
      assert.ok(specifier.startsWith('node:') || specifier.startsWith('./'), `${specifier} is imported at run time`);
    }
  });

  for (const subcommand of ['controller', 'sts', 'proxy']) {
    it(`runs: ${subcommand} --help`, async () => {
      const { stdout } = await run(process.execPath, [main, subcommand, '--help'], { cwd: tmpdir() });
      assert.match(stdout, new RegExp(`kube-regcred ${subcommand}`));
    });
  }

  // An ESM import of a Node module makes Node build its facade, which reads every export: http's lazy
  // `WebSocket` then loads Node's bundled undici with http2 and web streams (a bare `import 'node:http'`:
  // 57.7 MiB RSS against 44.7 required). The build turns those imports into require() calls
  // (hack/bundle.ts), so only what the code reads is loaded.
  // And prom-client's Pushgateway (https, tls, zlib) and cluster aggregator are bundled as getters
  // (hack/bundle.ts), and the sts loads node:https only for a TLS listener or an https fetch.
  it('sts loads none of undici, http2, https, tls, cluster (required, not imported; loaded when used)', async () => {
    const preload = join(outDir, 'print-loaded-modules.cjs');
    writeFileSync(preload, "process.on('exit', () => process.stderr.write(JSON.stringify(process.moduleLoadList)));\n");
    const { stdout, stderr } = await run(process.execPath, ['--require', preload, main, 'sts', '--help'], { cwd: tmpdir() });
    assert.match(stdout, /kube-regcred sts/);
    const loaded = JSON.parse(stderr) as string[];
    assert.ok(loaded.includes('NativeModule http'), 'the list holds what the sts loads');
    for (const unwanted of ['NativeModule internal/deps/undici/undici', 'NativeModule http2', 'NativeModule https', 'NativeModule tls', 'NativeModule cluster']) assert.ok(!loaded.includes(unwanted), `${unwanted} is loaded`);
  });

});
