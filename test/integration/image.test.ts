// The image built from the Dockerfile (hack/build-image.sh: buildah on local bases), pushed to a real
// Distribution registry with skopeo and read back, then run from its unpacked root file system as a Pod
// of the shipped manifests would run it: UID 65532, read-only root, the manifests' own command line.
// The full Pod run on the test bed's node is the e2e test's.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ensureImage, openArchive, pushImage, runInRootfs, unpackRootfs, type ArchiveContents } from '../support/image.ts';
import { startRegistry, type RegistryProcess } from '../support/registry.ts';
import { skopeoInspect } from '../support/skopeo.ts';
import { scratchDir } from '../support/scratch.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SUBCOMMANDS = ['controller', 'sts', 'proxy', 'credential-provider'];

interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
}

/** Every container of the shipped manifests that runs the kube-regcred image, with the file it is in. */
function shippedContainers(): Array<{ file: string; container: Container }> {
  const found: Array<{ file: string; container: Container }> = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.yaml')) {
        for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
          const object = doc.toJS() as { spec?: { template?: { spec?: { containers?: Container[] } } } } | null;
          for (const container of object?.spec?.template?.spec?.containers ?? []) {
            // Patches in components/ name no image; those that set a command change how the image is run.
            if (container.image?.includes('/kube-regcred:') || container.command?.[0] === 'node') found.push({ file: path.slice(ROOT.length + 1), container });
          }
        }
      }
    }
  };
  walk(join(ROOT, 'manifests'));
  return found;
}

describe('the image built from the Dockerfile', () => {
  let registry: RegistryProcess;
  let work: string;
  let ref: string;
  let contents: ArchiveContents;
  let rootfs: string;

  before(
    async () => {
      const archive = await ensureImage();
      registry = await startRegistry({ auth: 'none' });
      ref = await pushImage(archive, registry.host, 'kube-regcred:test');
      work = scratchDir('kube-regcred-image-');
      contents = await openArchive(archive, join(work, 'layout'));
      rootfs = join(work, 'rootfs');
      await unpackRootfs(join(work, 'layout'), contents, rootfs);
    },
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('reaches the registry unchanged: the same manifest digest and the same gzip layers', async () => {
    // skopeo 1.9 (Debian bookworm) has no LayersData in its summary: the layers come from the raw manifest.
    const summary = (await skopeoInspect(`docker://${ref}`)) as { Digest: string; Layers: string[] };
    const served = (await skopeoInspect(`docker://${ref}`, { raw: true })) as ArchiveContents['manifest'] & { mediaType: string };
    assert.equal(summary.Digest, contents.manifestDigest);
    assert.equal(served.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(
      served.layers.map((l) => [l.digest, l.size, l.mediaType]),
      contents.manifest.layers.map((l) => [l.digest, l.size, l.mediaType]),
    );
    assert.deepEqual(summary.Layers, served.layers.map((l) => l.digest));
    for (const layer of served.layers) assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    // The base's files, node, package.json, dist: a layer each at least.
    assert.ok(served.layers.length >= 4, `expected the base and the Dockerfile's COPY layers, got ${served.layers.length}`);
  });

  it('declares UID 65532, node as its entrypoint and a PATH with /usr/local/bin in its config', async () => {
    const config = (await skopeoInspect(`docker://${ref}`, { config: true })) as ArchiveContents['config'];
    assert.equal(config.config.User, '65532:65532');
    assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/node', '/app/dist/main.js']);
    assert.deepEqual(config.config.Cmd, ['--help']);
    assert.ok(config.config.Env?.includes('NODE_ENV=production'), `Env: ${config.config.Env?.join(' ')}`);
    const path = config.config.Env?.find((e) => e.startsWith('PATH='))?.slice('PATH='.length).split(':') ?? [];
    assert.ok(path.includes('/usr/local/bin'), `the manifests' command "node" must be found on PATH=${path.join(':')}`);
    assert.equal(config.rootfs.diff_ids.length, contents.manifest.layers.length);
  });

  it('has node and the compiled app, and no shell, package manager or TypeScript', () => {
    assert.ok(existsSync(join(rootfs, 'usr/local/bin/node')));
    assert.ok(existsSync(join(rootfs, 'app/dist/main.js')));
    assert.ok(existsSync(join(rootfs, 'etc/ssl/certs/ca-certificates.crt')));
    for (const absent of ['bin/sh', 'bin/bash', 'bin/dash', 'usr/bin/apt-get', 'usr/local/bin/npm', 'app/src', 'app/node_modules/typescript']) {
      assert.ok(!existsSync(join(rootfs, absent)), `/${absent} should not be in the image`);
    }
  });

  it('starts each subcommand from a read-only root file system as UID 65532', async () => {
    for (const subcommand of SUBCOMMANDS) {
      const result = await runInRootfs(rootfs, ['/usr/local/bin/node', '/app/dist/main.js', subcommand, '--help'], { NODE_ENV: 'production' });
      assert.equal(result.code, 0, `${subcommand} --help: exit ${result.code}, stderr: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^Usage: kube-regcred ${subcommand}\\b`));
    }
    const probe = await runInRootfs(rootfs, [
      '/usr/local/bin/node',
      '-e',
      "let write; try { require('fs').writeFileSync('/app/probe', 'x'); write = 'written' } catch (e) { write = e.code } console.log(process.getuid(), process.getgid(), write)",
    ]);
    assert.equal(probe.stdout.trim(), '65532 65532 EROFS', probe.stderr);
  });

  it("runs the shipped manifests' command lines, Node flags included", async () => {
    const containers = shippedContainers();
    assert.ok(containers.length >= 2, `expected the controller and sts Deployments, found ${containers.map((c) => c.file).join(', ')}`);
    for (const { file, container } of containers) {
      // No command: the image's entrypoint. "node" is looked up on the image's PATH, as the kubelet's runtime does.
      const command = [...(container.command ?? contents.config.config.Entrypoint ?? []), ...(container.args ?? []), '--help'];
      const result = await runInRootfs(rootfs, command);
      assert.equal(result.code, 0, `${file}: ${command.join(' ')} --help: exit ${result.code}, stderr: ${result.stderr}`);
    }
  });

  it('fails with a clear message, not a crash, when started outside a cluster', async () => {
    const result = await runInRootfs(rootfs, ['/usr/local/bin/node', '/app/dist/main.js', 'controller']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /not running in a cluster/);
    assert.doesNotMatch(result.stderr, /at .*\(node:internal|ERR_MODULE_NOT_FOUND/);
  });
});
