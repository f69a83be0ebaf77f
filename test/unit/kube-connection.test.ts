import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { EXEC_EXPIRY_MARGIN_MS } from '../../src/kube/exec-credential.ts';
import { TOKEN_FILE_MAX_AGE_MS, loadKubeConnection, type LoadKubeConnectionOptions } from '../../src/kube/kube-connection.ts';

const T0 = new Date('2026-11-23T09:00:00Z');
const CA = '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n';
/** Planted in every credential a refusal test writes: it must never show up in an error. */
const SECRET = 's3cr3t-value-never-shown';
const b64 = (text: string) => Buffer.from(text).toString('base64');

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kube-connection-'));
  dirs.push(dir);
  return dir;
}

function manualClock(start = T0) {
  let nowMs = start.getTime();
  return { now: () => new Date(nowMs), advance: (ms: number) => void (nowMs += ms) };
}

interface Parts {
  cluster?: Record<string, unknown>;
  user?: Record<string, unknown> | undefined;
  context?: Record<string, unknown>;
  clusters?: unknown;
}

/** A kubeconfig with one context `ctx` → cluster `c` + user `u`; `parts` replace or extend each. */
function kubeconfigDoc(parts: Parts = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: parts.clusters ?? [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64(CA), ...parts.cluster } }],
    users: parts.user === undefined ? [] : [{ name: 'u', user: parts.user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', ...(parts.user === undefined ? {} : { user: 'u' }), ...parts.context } }],
    'current-context': 'ctx',
  };
}

function writeKubeconfig(dir: string, doc: unknown, format: 'yaml' | 'json' = 'yaml'): string {
  const path = join(dir, 'config');
  writeFileSync(path, format === 'json' ? JSON.stringify(doc) : stringify(doc));
  return path;
}

function load(path: string, extra: Partial<LoadKubeConnectionOptions> = {}) {
  return loadKubeConnection({ kubeconfigPath: path, env: {}, ...extra });
}

/** Asserts a start-up refusal: the message matches every pattern and holds no planted secret. */
function assertRefused(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    assert.ok(!inspect(error).includes(SECRET), `the error must not show the secret: ${inspect(error)}`);
    return true;
  });
}

async function assertRejected(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    for (const pattern of patterns) assert.match(error.message, pattern);
    assert.ok(!inspect(error).includes(SECRET), `the error must not show the plugin's output: ${inspect(error)}`);
    return true;
  });
}

describe('in-cluster connection', () => {
  function mount(files: Record<string, string> = {}): string {
    const dir = tempDir();
    const all = { 'ca.crt': CA, token: 'token-1\n', namespace: 'kube-regcred\n', ...files };
    for (const [name, content] of Object.entries(all)) writeFileSync(join(dir, name), content);
    return dir;
  }
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  it('takes the server from the service env, the CA, token and trimmed namespace from the mount', async () => {
    const connection = loadKubeConnection({ env, inClusterDir: mount() });
    assert.equal(connection.server.href, 'https://10.96.0.1/');
    assert.deepEqual(connection.tls, { ca: CA, rejectUnauthorized: true });
    assert.equal(connection.namespace, 'kube-regcred');
    assert.equal(await connection.authorization(), 'Bearer token-1');
  });

  it('brackets an IPv6 service host', () => {
    const connection = loadKubeConnection({ env: { KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '6443' }, inClusterDir: mount() });
    assert.equal(connection.server.href, 'https://[fd00:10:96::1]:6443/');
  });

  it('has no namespace when the file is missing or empty', () => {
    const dir = mount();
    rmSync(join(dir, 'namespace'));
    assert.equal(loadKubeConnection({ env, inClusterDir: dir }).namespace, undefined);
    assert.equal(loadKubeConnection({ env, inClusterDir: mount({ namespace: ' \n' }) }).namespace, undefined);
  });

  it('re-reads the rotated token once the cached one is 60 s old, not before', async () => {
    const dir = mount();
    const clock = manualClock();
    const connection = loadKubeConnection({ env, inClusterDir: dir, now: clock.now });
    writeFileSync(join(dir, 'token'), 'token-2\n');
    clock.advance(TOKEN_FILE_MAX_AGE_MS - 1);
    assert.equal(await connection.authorization(), 'Bearer token-1', 'a token younger than 60 s is reused');
    clock.advance(1);
    assert.equal(await connection.authorization(), 'Bearer token-2');
    writeFileSync(join(dir, 'token'), 'token-3\n');
    clock.advance(TOKEN_FILE_MAX_AGE_MS - 1);
    assert.equal(await connection.authorization(), 'Bearer token-2', 'the age counts from the last read');
  });

  it('re-reads the token right after invalidate()', async () => {
    const dir = mount();
    const connection = loadKubeConnection({ env, inClusterDir: dir, now: manualClock().now });
    writeFileSync(join(dir, 'token'), 'token-2');
    connection.invalidate();
    assert.equal(await connection.authorization(), 'Bearer token-2');
  });

  it('keeps the last token when a due re-read fails, but not after invalidate()', async () => {
    const dir = mount();
    const clock = manualClock();
    const connection = loadKubeConnection({ env, inClusterDir: dir, now: clock.now });
    rmSync(join(dir, 'token'));
    clock.advance(TOKEN_FILE_MAX_AGE_MS);
    assert.equal(await connection.authorization(), 'Bearer token-1');
    connection.invalidate();
    await assertRejected(connection.authorization(), /in-cluster token .*token: cannot read it \(ENOENT\)/);
    writeFileSync(join(dir, 'token'), 'token-2');
    assert.equal(await connection.authorization(), 'Bearer token-2', 'a failed read is tried again on the next call');
  });

  it('refuses to start outside a cluster without a kubeconfig, never guessing ~/.kube/config', () => {
    assertRefused(() => loadKubeConnection({ env: { HOME: tempDir() }, inClusterDir: mount() }), /KUBERNETES_SERVICE_HOST unset/, /--kubeconfig/);
  });

  it('refuses a missing or malformed service port', () => {
    assertRefused(() => loadKubeConnection({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, inClusterDir: mount() }), /KUBERNETES_SERVICE_PORT/);
    assertRefused(() => loadKubeConnection({ env: { ...env, KUBERNETES_SERVICE_PORT: '443x' }, inClusterDir: mount() }), /KUBERNETES_SERVICE_PORT/);
  });

  it('refuses an unreadable token or CA, or an empty token, naming the file', () => {
    const noToken = mount();
    rmSync(join(noToken, 'token'));
    assertRefused(() => loadKubeConnection({ env, inClusterDir: noToken }), /in-cluster token .*\/token: cannot read it \(ENOENT\)/);
    const noCa = mount();
    rmSync(join(noCa, 'ca.crt'));
    assertRefused(() => loadKubeConnection({ env, inClusterDir: noCa }), /in-cluster CA .*\/ca\.crt: cannot read it/);
    assertRefused(() => loadKubeConnection({ env, inClusterDir: mount({ token: '\n' }) }), /token: the file is empty/);
  });

  it('prefers an explicit kubeconfig to the in-cluster mount', () => {
    const path = writeKubeconfig(tempDir(), kubeconfigDoc({ user: { token: 't' } }));
    const connection = loadKubeConnection({ kubeconfigPath: path, env, inClusterDir: mount() });
    assert.equal(connection.server.href, 'https://127.0.0.1:6443/');
  });
});

describe('kubeconfig connection', () => {
  it("reads the test bed's kubeconfig as client-node's exportConfig writes it", async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test-bed', server: 'https://127.0.0.1:6443', caData: b64(CA), skipTLSVerify: false }],
      users: [{ name: 'admin', token: 'admin-token' }],
      contexts: [{ name: 'admin', cluster: 'test-bed', user: 'admin', namespace: 'team-a' }],
      currentContext: 'admin',
    });
    const path = join(tempDir(), 'config');
    writeFileSync(path, kc.exportConfig());
    const connection = load(path);
    assert.equal(connection.server.href, 'https://127.0.0.1:6443/');
    assert.deepEqual(connection.tls, { ca: CA, rejectUnauthorized: true, servername: undefined, cert: undefined, key: undefined });
    assert.equal(connection.namespace, 'team-a');
    assert.equal(await connection.authorization(), 'Bearer admin-token');
  });

  it('resolves relative CA, client certificate and key files against the kubeconfig directory', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki', 'ca.pem'), CA);
    writeFileSync(join(dir, 'pki', 'client.pem'), CERT);
    writeFileSync(join(dir, 'pki', 'client-key.pem'), KEY);
    const path = writeKubeconfig(dir, kubeconfigDoc({
      clusters: [{ name: 'c', cluster: { server: 'https://apiserver.example:8443/k8s/', 'certificate-authority': 'pki/ca.pem', 'tls-server-name': 'kubernetes' } }],
      user: { 'client-certificate': 'pki/client.pem', 'client-key': './pki/client-key.pem' },
    }));
    const connection = load(path);
    assert.equal(connection.server.href, 'https://apiserver.example:8443/k8s/', 'the path prefix is kept');
    assert.deepEqual(connection.tls, { ca: CA, cert: CERT, key: KEY, rejectUnauthorized: true, servername: 'kubernetes' });
    assert.equal(connection.namespace, undefined);
    assert.equal(await connection.authorization(), undefined, 'client certificates need no header');
  });

  it('decodes certificate and key data given inline', () => {
    const path = writeKubeconfig(tempDir(), kubeconfigDoc({ user: { 'client-certificate-data': b64(CERT), 'client-key-data': b64(KEY) } }), 'json');
    const { tls } = load(path);
    assert.equal(tls.cert, CERT);
    assert.equal(tls.key, KEY);
  });

  it('skips verification when insecure-skip-tls-verify is true', () => {
    const path = writeKubeconfig(tempDir(), kubeconfigDoc({ clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'insecure-skip-tls-verify': true } }] }));
    assert.equal(load(path).tls.rejectUnauthorized, false);
  });

  it('sends username and password as Basic', async () => {
    const path = writeKubeconfig(tempDir(), kubeconfigDoc({ user: { username: 'ann', password: 'pa:ss' } }));
    assert.equal(await load(path).authorization(), `Basic ${b64('ann:pa:ss')}`);
  });

  it('connects anonymously when the context names no user', async () => {
    const path = writeKubeconfig(tempDir(), kubeconfigDoc());
    assert.equal(await load(path).authorization(), undefined);
  });

  for (const key of ['tokenFile', 'token-file']) {
    it(`reads a relative ${key}, re-reading it after 60 s and after invalidate()`, async () => {
      const dir = tempDir();
      writeFileSync(join(dir, 'token'), 'file-token-1\n');
      const clock = manualClock();
      const connection = load(writeKubeconfig(dir, kubeconfigDoc({ user: { [key]: 'token' } })), { now: clock.now });
      assert.equal(await connection.authorization(), 'Bearer file-token-1');
      writeFileSync(join(dir, 'token'), 'file-token-2\n');
      clock.advance(TOKEN_FILE_MAX_AGE_MS - 1);
      assert.equal(await connection.authorization(), 'Bearer file-token-1');
      clock.advance(1);
      assert.equal(await connection.authorization(), 'Bearer file-token-2');
      writeFileSync(join(dir, 'token'), 'file-token-3\n');
      connection.invalidate();
      assert.equal(await connection.authorization(), 'Bearer file-token-3');
    });
  }

  describe('refuses, naming the file and the field', () => {
    const cases: Array<[string, (dir: string) => unknown, RegExp[]]> = [
      ['an unreadable kubeconfig', () => ({ unwritten: true }), [/cannot read it \(ENOENT\)/]],
      ['text that is not YAML', () => `clusters: [\n  token: "${SECRET}\n`, [/not valid YAML or JSON \(line \d+, column \d+\)/]],
      ['a document that is not a mapping', () => '- a\n- b\n', [/not a kubeconfig/]],
      ['no current-context', () => ({ ...kubeconfigDoc(), 'current-context': '' }), [/current-context is not set/]],
      ['a missing context', () => ({ ...kubeconfigDoc(), 'current-context': 'nope' }), [/current-context names context "nope", which is not in contexts/]],
      ['a missing cluster', () => kubeconfigDoc({ context: { cluster: 'gone' } }), [/context "ctx" names cluster "gone", which is not in clusters/]],
      ['a missing user', () => kubeconfigDoc({ context: { user: 'gone' } }), [/context "ctx" names user "gone", which is not in users/]],
      ['a missing server', () => kubeconfigDoc({ clusters: [{ name: 'c', cluster: {} }] }), [/cluster "c": server is not set/]],
      ['a server that is not http(s)', () => kubeconfigDoc({ cluster: { server: 'ftp://127.0.0.1' } }), [/cluster "c": server must be an http\(s\) URL such as https:\/\/host:6443/]],
      ['a server without a scheme', () => kubeconfigDoc({ cluster: { server: '127.0.0.1:6443' } }), [/cluster "c": server must be an http\(s\) URL/]],
      ['a server that is no URL', () => kubeconfigDoc({ cluster: { server: 'not a url' } }), [/cluster "c": server must be an http\(s\) URL/]],
      ['a server with credentials', () => kubeconfigDoc({ cluster: { server: `https://u:${SECRET}@127.0.0.1` } }), [/cluster "c": server must not carry credentials/]],
      ['a proxy-url', () => kubeconfigDoc({ cluster: { 'proxy-url': 'http://proxy:3128' } }), [/cluster "c": proxy-url is set: connecting through a proxy is not supported/]],
      ['an unreadable CA file', () => kubeconfigDoc({ clusters: [{ name: 'c', cluster: { server: 'https://h', 'certificate-authority': 'missing.pem' } }] }), [/cluster "c": certificate-authority \/.*\/missing\.pem: cannot read it \(ENOENT\)/]],
      ['CA data that is not base64 of PEM', () => kubeconfigDoc({ cluster: { 'certificate-authority-data': b64(SECRET) } }), [/cluster "c": certificate-authority-data is not base64 of PEM/]],
      ['CA data and a CA file both', () => kubeconfigDoc({ cluster: { 'certificate-authority': 'ca.pem' } }), [/certificate-authority-data and certificate-authority are both set/]],
      ['insecure with a CA', () => kubeconfigDoc({ cluster: { 'insecure-skip-tls-verify': true } }), [/insecure-skip-tls-verify is true but a certificate authority is set/]],
      ['insecure that is not a boolean', () => kubeconfigDoc({ cluster: { 'insecure-skip-tls-verify': 'yes' } }), [/insecure-skip-tls-verify must be true or false/]],
      ['a token that is not a string', () => kubeconfigDoc({ user: { token: 12345 } }), [/user "u": token must be a string/]],
      ['a client key without a certificate', () => kubeconfigDoc({ user: { 'client-key-data': b64(`-----BEGIN PRIVATE KEY-----\n${SECRET}\n`) } }), [/user "u": client-certificate and client-key must be set together/]],
      ['key data that is not PEM', () => kubeconfigDoc({ user: { 'client-certificate-data': b64(CERT), 'client-key-data': b64(SECRET) } }), [/user "u": client-key-data is not base64 of PEM/]],
      ['an unreadable token file', () => kubeconfigDoc({ user: { tokenFile: 'no-token' } }), [/user "u": tokenFile \/.*\/no-token: cannot read it \(ENOENT\)/]],
      ['an auth-provider', () => kubeconfigDoc({ user: { 'auth-provider': { name: 'oidc', config: { 'id-token': SECRET } } } }), [/user "u": auth-provider is set: auth providers are not supported/]],
      ['impersonation', () => kubeconfigDoc({ user: { token: SECRET, as: 'system:admin' } }), [/user "u": as is set: impersonation is not supported/]],
      ['a token and a password', () => kubeconfigDoc({ user: { token: SECRET, username: 'u', password: SECRET } }), [/user "u": token and username\/password are set: keep one authentication method/]],
      ['a token and an exec plugin', () => kubeconfigDoc({ user: { token: SECRET, exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1' } } }), [/user "u": token and exec are set/]],
      ['a password without username', () => kubeconfigDoc({ user: { password: SECRET } }), [/user "u": password is set without username/]],
      ['an exec plugin that wants a terminal', () => kubeconfigDoc({ user: { exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'Always' } } }), [/user "u": exec\.interactiveMode is Always, but a controller has no terminal/]],
      ['an exec plugin of v1alpha1', () => kubeconfigDoc({ user: { exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1alpha1' } } }), [/user "u": exec\.apiVersion must be one of/]],
      ['an exec plugin without command', () => kubeconfigDoc({ user: { exec: { apiVersion: 'client.authentication.k8s.io/v1' } } }), [/user "u": exec\.command must be a non-empty string/]],
      ['an exec env entry without name', () => kubeconfigDoc({ user: { exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1', env: [{ value: SECRET }] } } }), [/user "u": exec\.env\[0\] must have a non-empty string name/]],
      ['an exec plugin and a client certificate', () => kubeconfigDoc({ user: { 'client-certificate-data': b64(CERT), 'client-key-data': b64(KEY), exec: { command: 'x', apiVersion: 'client.authentication.k8s.io/v1' } } }), [/user "u": exec and client-certificate are both set/]],
    ];
    for (const [name, content, patterns] of cases) {
      it(name, () => {
        const dir = tempDir();
        const doc = content(dir);
        const path = join(dir, 'config');
        if (typeof doc === 'string') writeFileSync(path, doc);
        else if (!(doc as { unwritten?: boolean }).unwritten) writeKubeconfig(dir, doc);
        assertRefused(() => load(path), new RegExp(`^kubeconfig ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `), ...patterns);
      });
    }
  });
});

describe('exec credential plugin', () => {
  const V1 = 'client.authentication.k8s.io/v1';

  /**
   * A plugin in a temp dir that counts its runs, records KUBERNETES_EXEC_INFO and its environment, and
   * prints credential.json (rewritten by the tests). `extra` is shell run after printing.
   */
  function plugin(credential: unknown, extra = '') {
    const dir = tempDir();
    const script = join(dir, 'bin', 'plugin');
    mkdirSync(join(dir, 'bin'));
    writeFileSync(
      script,
      `#!/bin/sh\necho run >> "${dir}/runs"\nprintf '%s' "$KUBERNETES_EXEC_INFO" > "${dir}/exec-info"\nenv > "${dir}/env"\ncat "${dir}/credential.json"\n${extra}\n`,
    );
    chmodSync(script, 0o755);
    const setCredential = (value: unknown) => writeFileSync(join(dir, 'credential.json'), typeof value === 'string' ? value : JSON.stringify(value));
    setCredential(credential);
    const runs = () => {
      try {
        return readFileSync(join(dir, 'runs'), 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    };
    const execInfo = () => JSON.parse(readFileSync(join(dir, 'exec-info'), 'utf8')) as unknown;
    const pluginEnv = () => readFileSync(join(dir, 'env'), 'utf8').split('\n');
    return { dir, script, setCredential, runs, execInfo, pluginEnv };
  }

  function credential(status: Record<string, unknown>, apiVersion = V1) {
    return { kind: 'ExecCredential', apiVersion, status };
  }

  function connect(dir: string, exec: Record<string, unknown>, extra: Partial<LoadKubeConnectionOptions> & { cluster?: Record<string, unknown> } = {}) {
    const { cluster, ...options } = extra;
    const path = writeKubeconfig(dir, kubeconfigDoc({ user: { exec: { apiVersion: V1, ...exec } }, ...(cluster ? { cluster } : {}) }));
    return load(path, { env: { PATH: process.env['PATH'], BASE_MARKER: 'from-process' }, ...options });
  }

  it('runs the plugin non-interactively with its env added, and sends its token', async () => {
    const p = plugin(credential({ token: 'exec-token' }));
    const connection = connect(p.dir, { command: p.script, args: ['--flag'], env: [{ name: 'PLUGIN_SETTING', value: 'on' }], interactiveMode: 'IfAvailable' });
    assert.equal(await connection.authorization(), 'Bearer exec-token');
    assert.deepEqual(p.execInfo(), { kind: 'ExecCredential', apiVersion: V1, spec: { interactive: false } });
    const env = p.pluginEnv();
    assert.ok(env.includes('PLUGIN_SETTING=on'), 'exec.env entries reach the plugin');
    assert.ok(env.includes('BASE_MARKER=from-process'), 'the process env reaches the plugin');
  });

  it('passes the cluster in KUBERNETES_EXEC_INFO when provideClusterInfo is set', async () => {
    const p = plugin(credential({ token: 'exec-token' }));
    const connection = connect(p.dir, { command: p.script, provideClusterInfo: true }, {
      cluster: { 'tls-server-name': 'kubernetes', extensions: [{ name: 'client.authentication.k8s.io/exec', extension: { audience: 'a' } }] },
    });
    await connection.authorization();
    assert.deepEqual(p.execInfo(), {
      kind: 'ExecCredential',
      apiVersion: V1,
      spec: {
        interactive: false,
        cluster: { server: 'https://127.0.0.1:6443', 'tls-server-name': 'kubernetes', 'certificate-authority-data': b64(CA), config: { audience: 'a' } },
      },
    });
  });

  it('resolves a relative command path against the kubeconfig directory', async () => {
    const p = plugin(credential({ token: 'relative' }));
    assert.equal(await connect(p.dir, { command: './bin/plugin' }).authorization(), 'Bearer relative');
  });

  it('accepts v1beta1 plugins', async () => {
    const V1BETA1 = 'client.authentication.k8s.io/v1beta1';
    const p = plugin(credential({ token: 'beta' }, V1BETA1));
    assert.equal(await connect(p.dir, { command: p.script, apiVersion: V1BETA1 }).authorization(), 'Bearer beta');
    assert.deepEqual(p.execInfo(), { kind: 'ExecCredential', apiVersion: V1BETA1, spec: { interactive: false } });
  });

  it('keeps a token without expiry until invalidate()', async () => {
    const p = plugin(credential({ token: 'one' }));
    const connection = connect(p.dir, { command: p.script });
    assert.equal(await connection.authorization(), 'Bearer one');
    p.setCredential(credential({ token: 'two' }));
    assert.equal(await connection.authorization(), 'Bearer one');
    assert.equal(p.runs(), 1);
    connection.invalidate();
    assert.equal(await connection.authorization(), 'Bearer two');
    assert.equal(p.runs(), 2);
  });

  it('runs the plugin again shortly before the token expires', async () => {
    const expiresAt = new Date(T0.getTime() + 5 * 60_000);
    const p = plugin(credential({ token: 'one', expirationTimestamp: expiresAt.toISOString() }));
    const clock = manualClock();
    const connection = connect(p.dir, { command: p.script }, { now: clock.now });
    assert.equal(await connection.authorization(), 'Bearer one');
    p.setCredential(credential({ token: 'two' }));
    clock.advance(5 * 60_000 - EXEC_EXPIRY_MARGIN_MS - 1);
    assert.equal(await connection.authorization(), 'Bearer one');
    clock.advance(1);
    assert.equal(await connection.authorization(), 'Bearer two');
    assert.equal(p.runs(), 2);
  });

  it('uses an already expired token once, without caching it', async () => {
    const p = plugin(credential({ token: 'stale', expirationTimestamp: '2026-11-23T08:00:00Z' }));
    const connection = connect(p.dir, { command: p.script }, { now: manualClock().now });
    assert.equal(await connection.authorization(), 'Bearer stale');
    assert.equal(await connection.authorization(), 'Bearer stale');
    assert.equal(p.runs(), 2);
  });

  it('shares one run among concurrent callers', async () => {
    const p = plugin(credential({ token: 'shared' }), 'sleep 0.3');
    const connection = connect(p.dir, { command: p.script });
    const answers = await Promise.all(Array.from({ length: 5 }, () => connection.authorization()));
    assert.deepEqual(answers, Array(5).fill('Bearer shared'));
    assert.equal(p.runs(), 1);
  });

  it('does not cache a failure: the next call runs the plugin again', async () => {
    const p = plugin('not json');
    const connection = connect(p.dir, { command: p.script });
    await assert.rejects(connection.authorization());
    p.setCredential(credential({ token: 'recovered' }));
    assert.equal(await connection.authorization(), 'Bearer recovered');
  });

  describe('refusals name the command and never show its output', () => {
    const cases: Array<[string, unknown, string, RegExp]> = [
      ['a failing plugin', credential({ token: SECRET }), 'exit 3', /failed \(exit code 3\)/],
      ['output that is not JSON', `token=${SECRET}`, '', /printed something that is not an ExecCredential \(not JSON\)/],
      ['JSON of another kind', { kind: 'Secret', data: SECRET }, '', /not an ExecCredential \(kind\)/],
      ['another apiVersion', credential({ token: SECRET }, 'client.authentication.k8s.io/v1beta1'), '', /configured for client\.authentication\.k8s\.io\/v1 but answered with client\.authentication\.k8s\.io\/v1beta1/],
      ['no status', { kind: 'ExecCredential', apiVersion: V1 }, '', /returned no status$/],
      ['no token', credential({}), '', /returned no status\.token/],
      ['a client certificate', credential({ clientCertificateData: CERT, clientKeyData: SECRET }), '', /returned a client certificate: not supported yet/],
      ['a token with a line break', credential({ token: `${SECRET}\nX-Other: 1` }), '', /characters not allowed in an HTTP header/],
      ['a bad expiry', credential({ token: SECRET, expirationTimestamp: 'tomorrow' }), '', /status\.expirationTimestamp that is not an RFC 3339 time/],
    ];
    for (const [name, output, extra, pattern] of cases) {
      it(name, async () => {
        const p = plugin(output, extra);
        const connection = connect(p.dir, { command: p.script });
        await assertRejected(connection.authorization(), new RegExp(`^exec credential plugin "${p.script}" `), pattern);
      });
    }

    it('a command that is not installed, with its install hint', async () => {
      const dir = tempDir();
      const connection = connect(dir, { command: 'kube-regcred-no-such-plugin', installHint: 'install it from example.com' });
      await assertRejected(connection.authorization(), /exec credential plugin "kube-regcred-no-such-plugin" could not be started \(ENOENT\): install it from example\.com/);
    });

    it('a plugin that hangs, killed after the timeout', async () => {
      const p = plugin(credential({ token: SECRET }), 'sleep 3');
      const connection = connect(p.dir, { command: p.script }, { execTimeoutMs: 200 });
      const started = Date.now();
      await assertRejected(connection.authorization(), /did not finish within 200 ms/);
      assert.ok(Date.now() - started < 2000, `gave up after ${Date.now() - started} ms`);
    });
  });
});
