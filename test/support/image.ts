// The kube-regcred image as a user gets it: built from the Dockerfile by hack/build-image.sh (buildah on
// local bases, cached by its inputs), pushed to a test registry with skopeo, unpacked for a run
// without a container engine.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { skopeoCopy } from './skopeo.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BUILD_TIMEOUT_MS = 30 * 60_000;
const run = promisify(execFile);

let building: Promise<string> | undefined;

/**
 * The OCI archive of the image built from the working tree: a cache hit in a second or two when
 * nothing changed (`npm test` builds it beforehand, in hack/ensure.sh), minutes when something did.
 * One build per process; hack/build-image.sh's lock makes other processes wait for it.
 */
export function ensureImage(): Promise<string> {
  building ??= buildImage();
  return building;
}

function buildImage(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'hack', 'build-image.sh')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: BUILD_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const archive = stdout.trim().split('\n').at(-1) ?? '';
      if (code === 0 && archive.endsWith('.oci.tar')) resolve(archive);
      else reject(new Error(`hack/build-image.sh failed (${signal ?? `exit ${code}`}); its last output:\n${stderr.split('\n').slice(-30).join('\n')}`));
    });
  });
}

/**
 * Pushes the archive to `registryHost` (`127.0.0.1:PORT`, plain HTTP) as `repoTag` (`kube-regcred:test`)
 * and returns the pushed reference (`127.0.0.1:PORT/kube-regcred:test`).
 */
export async function pushImage(archive: string, registryHost: string, repoTag: string): Promise<string> {
  const ref = `${registryHost}/${repoTag}`;
  const copy = await skopeoCopy(`oci-archive:${archive}`, `docker://${ref}`, { timeoutMs: 300_000 });
  if (!copy.ok) throw new Error(`skopeo could not push ${archive} to ${ref}: ${copy.stderr.trim()}`);
  return ref;
}

interface OciManifest {
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string; size: number }>;
}

export interface ArchiveContents {
  /** The manifest's digest, `sha256:...`: what a registry names it by after an unchanged copy. */
  manifestDigest: string;
  manifest: OciManifest;
  /** The image configuration (OCI image-spec `config.json`). */
  config: { config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string }; rootfs: { diff_ids: string[] } };
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', ...digest.split(':'));
}

/** Extracts the OCI archive into `dir` (an OCI image layout) and reads its one image. */
export async function openArchive(archive: string, dir: string): Promise<ArchiveContents> {
  mkdirSync(dir, { recursive: true });
  await run('tar', ['-xf', archive, '-C', dir]);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  if (index.manifests.length !== 1) throw new Error(`${archive} holds ${index.manifests.length} manifests, expected one image`);
  const manifestDigest = index.manifests[0]!.digest;
  const manifest = JSON.parse(readFileSync(blobPath(dir, manifestDigest), 'utf8')) as OciManifest;
  const config = JSON.parse(readFileSync(blobPath(dir, manifest.config.digest), 'utf8')) as ArchiveContents['config'];
  return { manifestDigest, manifest, config };
}

/**
 * Applies the layers of an archive opened in `layoutDir` to an empty `rootfs`, in order, as a container
 * engine does: a whiteout (`.wh.NAME`) removes NAME of the layers below, an opaque marker empties its folder.
 */
export async function unpackRootfs(layoutDir: string, contents: ArchiveContents, rootfs: string): Promise<void> {
  mkdirSync(rootfs, { recursive: true });
  for (const layer of contents.manifest.layers) {
    const file = blobPath(layoutDir, layer.digest);
    const { stdout } = await run('tar', ['-tzf', file], { maxBuffer: 256 * 1024 * 1024 });
    for (const entry of stdout.split('\n')) {
      const name = entry.replace(/\/$/, '');
      const base = name.split('/').at(-1) ?? '';
      if (base === '.wh..wh..opq') {
        const folder = join(rootfs, name, '..');
        for (const child of safeReaddir(folder)) rmSync(join(folder, child), { recursive: true, force: true });
      } else if (base.startsWith('.wh.')) {
        rmSync(join(rootfs, name, '..', base.slice('.wh.'.length)), { recursive: true, force: true });
      }
    }
    await run('tar', ['-xzf', file, '-C', rootfs, '--numeric-owner', '--exclude=*/.wh.*', '--exclude=.wh.*']);
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export interface RootfsRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `argv` inside `rootfs` as UID:GID 65532 (the image's USER) with the root file system bind-mounted
 * read-only in a private mount namespace, as a Pod with readOnlyRootFilesystem runs it. Needs root.
 */
export async function runInRootfs(rootfs: string, argv: readonly string[], env: Record<string, string> = {}): Promise<RootfsRun> {
  // unshare makes the new mount namespace private: the read-only bind is seen by this process only.
  const script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec chroot --userspec=65532:65532 "$0" "$@"';
  // The image has no env(1): the environment is set here and passes through sh, mount and chroot.
  const environment = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env };
  try {
    const { stdout, stderr } = await run('unshare', ['--mount', '--fork', 'sh', '-c', script, rootfs, ...argv], { timeout: 60_000, env: environment });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
