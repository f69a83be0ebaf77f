// What src/kube/kube-config.ts adds to client-node's KubeConfig: refusals that name the file and never
// quote it, no guessing of ~/.kube/config, client-go's tokenFile, and one exec plugin run shared by
// concurrent requests. Logging in with each form against a real apiserver: test/integration/kube-login.test.ts.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, it, mock } from 'node:test';
import { stringify } from 'yaml';
import { AUTH_REUSE_MS, loadKubeConnection } from '../../src/kube/kube-config.ts';
import { scratchDir } from '../support/scratch.ts';

/** Planted in every credential a refusal test writes: it must never show up in an error. */
const SECRET = 's3cr3t-value-never-shown';
const dir = scratchDir('kube-config-');
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function kubeconfig(user: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const path = join(dir, `config-${files++}`);
  writeFileSync(path, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443' } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'ctx',
    ...extra,
  }));
  return path;
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof Error);
    assert.ok(!inspect(error).includes(SECRET), `the error must not show the secret: ${inspect(error)}`);
    return error.message;
  }
  assert.fail('expected a refusal');
}

describe('loading a kubeconfig', () => {
  it('names an unreadable file and its error code', () => {
    const path = join(dir, 'missing');
    assert.equal(refusal(() => loadKubeConnection({ kubeconfigPath: path, env: {} })), `kubeconfig ${path}: cannot read it (ENOENT)`);
  });

  it('says where YAML breaks without quoting the line (it may hold a token)', () => {
    const path = join(dir, 'broken');
    writeFileSync(path, `users:\n- name: u\n  user:\n    token: "${SECRET}\n  bad: [\n`);
    assert.match(refusal(() => loadKubeConnection({ kubeconfigPath: path, env: {} })), /^kubeconfig .*broken: not valid YAML or JSON \(line \d+, column \d+\)$/);
  });

  it('refuses a current-context that names no context', () => {
    const path = kubeconfig({ token: SECRET }, { 'current-context': 'nope' });
    assert.match(refusal(() => loadKubeConnection({ kubeconfigPath: path, env: {} })), /current-context names context "nope", which is not in contexts/);
  });

  it('outside a cluster without --kubeconfig refuses rather than guess ~/.kube/config', () => {
    assert.match(refusal(() => loadKubeConnection({ env: { HOME: dir } })), /KUBERNETES_SERVICE_HOST unset.*--kubeconfig/);
    assert.match(refusal(() => loadKubeConnection({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443x' } })), /KUBERNETES_SERVICE_PORT must be a port number/);
  });

  it('in a cluster, names the unreadable token or CA file', () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    assert.match(refusal(() => loadKubeConnection({ env, inClusterRoot: dir })), /^in-cluster CA .*\/var\/run\/secrets\/kubernetes\.io\/serviceaccount\/ca\.crt: cannot read it \(ENOENT\)$/);
  });
});

describe('credentials of a request', () => {
  it("reads client-go's tokenFile (relative to the kubeconfig) and sends it without its line break", async () => {
    writeFileSync(join(dir, 'sa-token'), 'file-token\n');
    const connection = loadKubeConnection({ kubeconfigPath: kubeconfig({ tokenFile: 'sa-token' }), env: {} });
    assert.equal((await connection.requestAuth()).headers['authorization'], 'Bearer file-token');
  });

  it('a failing exec plugin: the error names the command, never what it printed', async () => {
    const script = join(dir, 'failing-plugin');
    writeFileSync(script, `#!/bin/sh\necho "token=${SECRET}" >&2\nexit 3\n`);
    chmodSync(script, 0o755);
    const connection = loadKubeConnection({ kubeconfigPath: kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script } }), env: {} });
    await assert.rejects(connection.requestAuth(), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.match(error.message, new RegExp(`^exec credential plugin "${script}" failed`));
      assert.ok(!inspect(error).includes(SECRET), inspect(error));
      return true;
    });
  });

  it('concurrent requests share one exec plugin run', async () => {
    const script = join(dir, 'slow-plugin');
    const runs = join(dir, 'slow-plugin.runs');
    writeFileSync(script, `#!/bin/sh\necho run >> "${runs}"\nsleep 0.3\necho '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"shared"}}'\n`);
    chmodSync(script, 0o755);
    const connection = loadKubeConnection({ kubeconfigPath: kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script } }), env: {} });
    const answers = await Promise.all(Array.from({ length: 5 }, () => connection.requestAuth()));
    assert.deepEqual(answers.map((a) => a.headers['authorization']), Array(5).fill('Bearer shared'));
    assert.equal(readFileSync(runs, 'utf8').trim().split('\n').length, 1);
  });

  it('one evaluation serves the requests that follow within AUTH_REUSE_MS, then the credentials are evaluated again', async () => {
    // A credential that is already expired: client-node runs the plugin again at every evaluation.
    const script = join(dir, 'counting-plugin');
    const runs = join(dir, 'counting-plugin.runs');
    writeFileSync(script, `#!/bin/sh\necho run >> "${runs}"\necho '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"t","expirationTimestamp":"2000-01-01T00:00:00Z"}}'\n`);
    chmodSync(script, 0o755);
    const count = (): number => readFileSync(runs, 'utf8').trim().split('\n').length;
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const connection = loadKubeConnection({ kubeconfigPath: kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: script } }), env: {} });
      for (let i = 0; i < 3; i++) await connection.requestAuth();
      assert.equal(count(), 1);
      mock.timers.tick(AUTH_REUSE_MS);
      assert.equal((await connection.requestAuth()).headers['authorization'], 'Bearer t');
      assert.equal(count(), 2);
    } finally {
      mock.timers.reset();
    }
  });
});
