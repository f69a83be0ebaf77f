// esbuild settings shared by the production build (hack/build.ts → dist/main.js, the image's entry) and
// the credential provider's single executable (hack/build-credential-provider.ts). Every dependency is
// bundled, for memory: Node's ESM loader walking @kubernetes/client-node's ~1,000 files costs about
// 75 MiB of RSS, `yaml`'s alone 13 MiB; the same code bundled costs a fraction (docs/controller.md,
// "Design notes"). The output imports nothing but Node's own modules.
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { sep } from 'node:path';
import { build, type BuildOptions, type Plugin } from 'esbuild';

/**
 * client-node declares no `sideEffects`, so esbuild would keep every generated API and model its index
 * re-exports; they have none (class and constant declarations), so they are marked free of them.
 */
const clientNodeSideEffectFree: Plugin = {
  name: 'client-node-side-effect-free',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'resolving' || !(args.importer.includes(`${sep}@kubernetes${sep}client-node${sep}`) || args.path.startsWith('@kubernetes/client-node'))) return undefined;
      const resolved = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'resolving' });
      if (resolved.errors.length > 0 || resolved.external || !resolved.path.includes(`${sep}@kubernetes${sep}client-node${sep}dist${sep}`)) return undefined;
      return { path: resolved.path, sideEffects: false };
    });
  },
};

const BUILTIN_NAMESPACE = 'node-builtin-by-require';

/**
 * Node's own modules: `require('url')` in bundled dependencies becomes `node:url` (nothing in the output
 * looks like a package), and in the ESM build an `import … from 'node:http'` becomes a `require` too.
 * Importing a builtin as ESM makes Node build its module facade, which reads every export, lazy getters
 * included: `http.WebSocket` then loads Node's bundled undici, with http2 and web streams (a bare
 * `import 'node:http'` has an RSS of 57.7 MiB, `require('http')` 44.7; the sts idles 2.3 MiB lower, as
 * the rest overlaps: bench/results/sts-token.md, "Memory"). Required, a getter runs only when read.
 */
function nodeBuiltins(esm: boolean): Plugin {
  return {
    name: 'node-builtins',
    setup(b) {
      const names = new Set(builtinModules.filter((name) => !name.startsWith('_')));
      const builtin = (path: string): string | undefined => {
        const name = path.startsWith('node:') ? path.slice('node:'.length) : path;
        return names.has(name) || (path.startsWith('node:') && names.has(path)) ? `node:${name}` : undefined;
      };
      b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
        const path = builtin(args.path);
        if (path === undefined) return undefined;
        if (esm && args.kind !== 'require-call' && args.namespace !== BUILTIN_NAMESPACE) return { path, namespace: BUILTIN_NAMESPACE };
        return { path, external: true };
      });
      // A CommonJS module of one line: esbuild reads its exports as properties where the code uses them.
      b.onLoad({ filter: /.*/, namespace: BUILTIN_NAMESPACE }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
    },
  };
}

/**
 * prom-client's index loads its Pushgateway (http, https with tls, zlib) and its cluster aggregator
 * (cluster, child_process, dgram, dns) whether or not they are used; nothing here uses them. Its index is
 * bundled with those two exports turned into getters that load them when read, so its API is whole.
 */
const promClientLazyParts: Plugin = {
  name: 'prom-client-lazy-parts',
  setup(b) {
    const eager = ["exports.Pushgateway = require('./lib/pushgateway');", "exports.AggregatorRegistry = require('./lib/cluster');"];
    b.onLoad({ filter: /[\\/]node_modules[\\/]prom-client[\\/]index\.js$/ }, async (args) => {
      let contents = await readFile(args.path, 'utf8');
      for (const line of eager) {
        if (!contents.includes(line)) throw new Error(`${args.path}: "${line}" not found (a new prom-client?): hack/bundle.ts must follow it`);
        const [, name, module] = /^exports\.(\w+) = require\(('[^']+')\);$/.exec(line)!;
        contents = contents.replace(line, `Object.defineProperty(exports, '${name}', { enumerable: true, get: () => require(${module}) });`);
      }
      return { contents, loader: 'js' };
    });
  },
};

export interface BundleOptions {
  entryPoints: string[];
  format: 'esm' | 'cjs';
  outfile?: string;
  outdir?: string;
}

export async function bundle(options: BundleOptions): Promise<void> {
  const esm = options.format === 'esm';
  const settings: BuildOptions = {
    entryPoints: options.entryPoints,
    bundle: true,
    platform: 'node',
    format: options.format,
    target: 'node24',
    // KUBE_REGCRED_BUILD_READABLE=1: unminified, so a CPU profile names functions as the sources do
    // (diagnosis only: what ships and what the bench measures is minified).
    minify: process.env.KUBE_REGCRED_BUILD_READABLE !== '1',
    // No keepNames: it wraps every function and closure the code creates in esbuild's __name(), an
    // Object.defineProperty per closure (1.3-1.4 % of the controller's CPU at a 50,000 cold start, the
    // protobuf decoder's and pino's redaction closures most). Nothing relies on a function's `name`:
    // every Error class of ours names itself.
    keepNames: false,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [nodeBuiltins(esm), clientNodeSideEffectFree, promClientLazyParts],
    ...(options.outfile ? { outfile: options.outfile } : {}),
    ...(options.outdir ? { outdir: options.outdir, entryNames: '[name]', chunkNames: 'chunks/[name]-[hash]', splitting: esm } : {}),
    // CommonJS code bundled into ESM (js-yaml, undici's dependencies) calls require() for Node's modules.
    ...(esm ? { banner: { js: "import { createRequire as __kubeRegcredRequire } from 'node:module'; const require = __kubeRegcredRequire(import.meta.url);" } } : {}),
  };
  await build(settings);
}
