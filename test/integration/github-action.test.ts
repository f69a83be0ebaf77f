// The GitHub Action (actions/docker-login) as the runner runs it: `node login.mjs` with INPUT_* and
// the runner's OIDC variables, against a token endpoint and an OIDC issuer of the test's own
// (test/support/github-oidc.ts: GitHub's documented shapes, not verified against GitHub itself).
// skopeo then pushes through kube-regcred proxy with the auth file the action wrote.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTinyImage } from '../support/oci-image.ts';
import { MAIN_OF_APP, OTHER_REPOSITORY, STS_AUDIENCE, startProxyBed, type ProxyBed } from '../support/proxy-bed.ts';
import { skopeoCopy } from '../support/skopeo.ts';
import type { JobClaims } from '../support/github-oidc.ts';

const SCRIPT = join(import.meta.dirname, '..', '..', 'actions', 'docker-login', 'login.mjs');
const POST_SCRIPT = join(import.meta.dirname, '..', '..', 'actions', 'docker-login', 'logout.mjs');

let bed: ProxyBed;
let image: string;

interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  home: string;
  githubEnv: string;
  githubOutput: string;
  githubState: string;
}

/** Runs a script of the action like the runner: inputs as INPUT_*, command files, a HOME of its own. */
function runAction(script: string, env: Record<string, string>, home = mkdtempSync(join(bed.dir, 'runner-home-'))): Promise<ActionRun> {
  const files = { githubEnv: join(home, 'github_env'), githubOutput: join(home, 'github_output'), githubState: join(home, 'github_state') };
  for (const file of Object.values(files)) writeFileSync(file, '', { flag: 'a' });
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script],
      {
        timeout: 30_000,
        // Nothing of the test process's own environment: only what a runner would set.
        env: { PATH: process.env.PATH ?? '', HOME: home, GITHUB_ENV: files.githubEnv, GITHUB_OUTPUT: files.githubOutput, GITHUB_STATE: files.githubState, ...env },
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr, home, ...files }),
    );
  });
}

function inputs(claims: JobClaims | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    INPUT_REGISTRY: bed.proxyHost,
    INPUT_AUDIENCE: STS_AUDIENCE,
    INPUT_USERNAME: 'github',
    ...(claims ? bed.oidc.jobEnvironment(claims) : {}),
    ...extra,
  };
}

before(async () => {
  bed = await startProxyBed();
  image = buildTinyImage(join(bed.dir, 'image'));
});

after(async () => {
  await bed?.stop();
});

describe('actions/docker-login', () => {
  test('writes a docker auth file that skopeo pushes with; the token is masked and never printed', async () => {
    const issuedBefore = bed.oidc.issued.length;
    const run = await runAction(SCRIPT, inputs(MAIN_OF_APP));
    assert.equal(run.code, 0, `the action failed:\n${run.stdout}${run.stderr}`);
    const token = bed.oidc.issued[issuedBefore];
    assert.ok(token, 'the action did not ask the token endpoint');
    assert.deepEqual(bed.oidc.requests.at(-1), { audience: STS_AUDIENCE, authorized: true });

    // Masked before anything else, and present nowhere but in the mask command.
    const lines = run.stdout.split('\n');
    assert.ok(lines.includes(`::add-mask::${token}`), 'the token was not masked');
    assert.ok(lines.findIndex((l) => l === `::add-mask::${token}`) < lines.findIndex((l) => l.startsWith('Logged in')));
    for (const line of [...lines, ...run.stderr.split('\n')]) {
      if (!line.startsWith('::add-mask::')) assert.ok(!line.includes(token.split('.')[2]!), `the token was printed: ${line.slice(0, 40)}…`);
    }

    const authFile = join(run.home, '.docker', 'config.json');
    assert.equal(statSync(authFile).mode & 0o777, 0o600);
    const config = JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(config.auths[bed.proxyHost]!.auth, 'base64').toString(), `github:${token}`);
    assert.equal(readFileSync(run.githubEnv, 'utf8'), `REGISTRY_AUTH_FILE=${authFile}\n`);
    assert.equal(readFileSync(run.githubOutput, 'utf8'), `auth-file=${authFile}\n`);

    const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${bed.proxyHost}/apps/from-ci:v1`, { destAuthfile: authFile });
    assert.ok(pushed.ok, `skopeo push with the action's auth file failed: ${pushed.stderr}`);
    const tags = (await (await fetch(`${bed.registry.url}/v2/apps/from-ci/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['v1']);

    // The post step removes the entry again and keeps the rest of the file.
    const state = Object.fromEntries(readFileSync(run.githubState, 'utf8').trim().split('\n').map((l) => [`STATE_${l.split('=')[0]}`, l.slice(l.indexOf('=') + 1)]));
    const post = await runAction(POST_SCRIPT, state, run.home);
    assert.equal(post.code, 0, post.stdout);
    assert.deepEqual(JSON.parse(readFileSync(authFile, 'utf8')), { auths: {} });
  });

  test('keeps the other entries of an existing docker config', async () => {
    const home = mkdtempSync(join(bed.dir, 'runner-home-'));
    const dockerConfig = join(home, 'docker');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dockerConfig);
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: 'eA==' } }, detachKeys: 'ctrl-e' }));
    const run = await runAction(SCRIPT, inputs(MAIN_OF_APP, { DOCKER_CONFIG: dockerConfig }), home);
    assert.equal(run.code, 0, run.stdout);
    const config = JSON.parse(readFileSync(join(dockerConfig, 'config.json'), 'utf8')) as { auths: Record<string, unknown>; detachKeys: string };
    assert.deepEqual(Object.keys(config.auths).sort(), ['ghcr.io', bed.proxyHost].sort());
    assert.equal(config.detachKeys, 'ctrl-e');
  });

  test('without `id-token: write` it fails and says what to add', async () => {
    const run = await runAction(SCRIPT, inputs(undefined));
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^::error::.*permissions: id-token: write/m);
  });

  test('a wrong request token is refused by the endpoint and reported without the body', async () => {
    const env = { ...inputs(MAIN_OF_APP), ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'not-the-runner-token' };
    const run = await runAction(SCRIPT, env);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /::error::.*HTTP 401/);
  });

  test('a job of another repository logs in, but the sts policy refuses it a registry token', async () => {
    const run = await runAction(SCRIPT, inputs(OTHER_REPOSITORY));
    assert.equal(run.code, 0, run.stdout);
    const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${bed.proxyHost}/apps/from-evil:v1`, { destAuthfile: join(run.home, '.docker', 'config.json') });
    assert.ok(!pushed.ok, 'a job of evil/app pushed');
    assert.match(pushed.stderr, /unauthorized|401/i);
    const metrics = await (await fetch(`http://127.0.0.1:${bed.sts.opsPort}/metrics`)).text();
    assert.match(metrics, /kube_regcred_sts_refusals_total\{reason="IdentityUnknown"\} [1-9]/);
  });

  test('with identity + sts-url it exchanges the job token for a longer-lived `_token` credential', async () => {
    const stsUrl = `http://127.0.0.1:${bed.sts.port}`;
    const run = await runAction(SCRIPT, inputs(MAIN_OF_APP, { INPUT_IDENTITY: 'acme-app-release', 'INPUT_STS-URL': stsUrl }));
    assert.equal(run.code, 0, run.stdout);
    const authFile = join(run.home, '.docker', 'config.json');
    const config = JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    const [username, password] = Buffer.from(config.auths[bed.proxyHost]!.auth, 'base64').toString().split(':');
    assert.equal(username, '_token');
    assert.ok(run.stdout.split('\n').includes(`::add-mask::${password}`), 'the exchange token was not masked');
    const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${bed.proxyHost}/apps/from-ci-exchange:v1`, { destAuthfile: authFile });
    assert.ok(pushed.ok, `skopeo push with the exchanged credential failed: ${pushed.stderr}`);
  });
});
