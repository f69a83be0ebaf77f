// `npm run build`: the production build, what the image runs (`node /app/dist/main.js`), the bench
// measures and the tests that start the CLI as a process run. src/ bundled by esbuild (hack/bundle.ts)
// into dist/main.js plus one chunk per subcommand (dist/chunks/), so `sts` never loads the controller.
// Dependencies are bundled too: dist/ runs with no node_modules.
// `node hack/build.ts [out-dir]` (default dist/); tests and the bench call buildMain() into their own.
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle } from './bundle.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds into `outDir` (emptied first) and returns the path of its main.js. */
export async function buildMain(outDir: string): Promise<string> {
  rmSync(outDir, { recursive: true, force: true });
  await bundle({ entryPoints: [join(ROOT, 'src', 'main.ts')], format: 'esm', outdir: outDir });
  return join(outDir, 'main.js');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const main = await buildMain(resolve(process.argv[2] ?? join(ROOT, 'dist')));
  console.log(`${main}: built in ${Date.now() - started} ms`);
}
