// A tiny OCI image built by hand (one layer with one file), so tests need no image download.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ImageFile {
  /** Path inside the image, without a leading slash. */
  name: string;
  content: Buffer;
  /** Default 0o644. */
  mode?: number;
}

/** A ustar archive entry for one regular file. */
function tarEntry({ name, content, mode = 0o644 }: ImageFile): Buffer {
  const header = Buffer.alloc(512);
  const field = (value: string, offset: number, length: number): void => {
    header.write(value, offset, length, 'utf8');
  };
  const octal = (value: number, length: number): string => value.toString(8).padStart(length - 1, '0') + '\0';
  field(name, 0, 100);
  field(octal(mode, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(content.length, 12), 124, 12);
  field(octal(0, 12), 136, 12);
  header.fill(' ', 148, 156);
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  field(checksum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding]);
}

function tarFiles(files: readonly ImageFile[]): Buffer {
  return Buffer.concat([...files.map(tarEntry), Buffer.alloc(1024)]);
}

export interface ImageOptions {
  files: readonly ImageFile[];
  /** The config's Entrypoint: what a container of the image runs. */
  entrypoint?: readonly string[];
  /** Extra annotations on the index entry, e.g. `io.containerd.image.name` for `ctr images import`. */
  annotations?: Record<string, string>;
}

/**
 * Writes an OCI image layout to `dir` and returns `dir`; the image is tagged `latest`.
 * `marker` goes into the file so that two images can be told apart.
 */
export function buildTinyImage(dir: string, marker = 'hello from kube-regcred'): string {
  return buildImage(dir, { files: [{ name: 'hello.txt', content: Buffer.from(marker + '\n') }] });
}

/** Writes a one-layer OCI image layout (linux/amd64) to `dir` and returns `dir`; tagged `latest`. */
export function buildImage(dir: string, options: ImageOptions): string {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer): { digest: string; size: number } => {
    const hex = sha256(data);
    writeFileSync(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const tar = tarFiles(options.files);
  const layer = put(gzipSync(tar));
  const config = put(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: options.entrypoint ? { Entrypoint: [...options.entrypoint] } : {},
        rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(tar)}`] },
      }),
    ),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: { 'org.opencontainers.image.ref.name': 'latest', ...options.annotations },
        },
      ],
    }),
  );
  return dir;
}
