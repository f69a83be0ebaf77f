// Builds the file a node operator installs: `kube-regcred-credential-provider`, a Node single executable
// application (the npm `node` binary with src/credential-provider-main.ts bundled into it), so the
// kubelet can exec it on a node without Node.js. `node hack/build-credential-provider.ts [out-dir]` (default dist/); tests and the
// bench call buildCredentialProvider() into a directory of their own.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle as bundleSources } from './bundle.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The fuse Node's SEA support looks for (documented in Node's single-executable-applications page). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const EXECUTABLE_NAME = 'kube-regcred-credential-provider';

export interface BuiltExecutable {
  /** The single executable: the kubelet's provider `name` is its file name. */
  path: string;
  bytes: number;
  /** The bundled script inside it. */
  bundleBytes: number;
}

/** The Node 24 binary of the `node` devDependency (the one npm scripts run on), not the machine's. */
function nodeBinary(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('node/package.json')), 'bin', 'node');
}

export async function buildCredentialProvider(outDir: string): Promise<BuiltExecutable> {
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'kube-regcred-sea-'));
  try {
    const bundle = join(work, 'kube-regcred.cjs');
    // SEA runs one CommonJS script and can require only built-in modules: everything else is bundled.
    await bundleSources({ entryPoints: [join(ROOT, 'src', 'credential-provider-main.ts')], outfile: bundle, format: 'cjs' });
    const blob = join(work, 'sea-prep.blob');
    const seaConfig = join(work, 'sea-config.json');
    // The code cache spares V8 compiling the bundle at every start: the kubelet starts us once per pull.
    writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }));
    const node = nodeBinary();
    const prep = spawnSync(node, ['--experimental-sea-config', seaConfig], { encoding: 'utf8' });
    if (prep.status !== 0) throw new Error(`node --experimental-sea-config failed: ${prep.stderr}`);
    const target = join(outDir, EXECUTABLE_NAME);
    copyFileSync(node, target);
    chmodSync(target, 0o755);
    // The npm node binary carries its debug info: 18 of its 121 MiB, of no use on a node.
    const strip = spawnSync('strip', [target], { encoding: 'utf8' });
    if (strip.status !== 0) throw new Error(`strip failed (binutils; hack/ensure.sh installs it): ${strip.error?.message ?? strip.stderr}`);
    const { inject } = createRequire(import.meta.url)('postject') as {
      inject(file: string, name: string, data: Buffer, options: { sentinelFuse: string; overwrite?: boolean }): Promise<void>;
    };
    // postject's LIEF prints a warning per odd ELF note section to stdout; it says nothing we act on.
    const log = console.log;
    const warn = console.warn;
    console.log = console.warn = () => {};
    try {
      await inject(target, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE, overwrite: true });
    } finally {
      console.log = log;
      console.warn = warn;
    }
    return { path: target, bytes: statSync(target).size, bundleBytes: statSync(bundle).size };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const built = await buildCredentialProvider(resolve(process.argv[2] ?? join(ROOT, 'dist')));
  console.log(`${built.path}: ${(built.bytes / 2 ** 20).toFixed(1)} MiB (bundle ${(built.bundleBytes / 1024).toFixed(0)} KiB), built in ${Date.now() - started} ms`);
}
