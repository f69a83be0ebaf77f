// The shipped credential provider (the single executable) run as the kubelet runs it, with requests
// holding real ServiceAccount tokens (TokenRequest of the bed's apiserver), against the real `kube-regcred
// sts`, and the answer used by skopeo against a real Distribution registry. The kubelet itself drives
// the plugin in test/e2e/credential-provider-node.test.ts; this file covers the CLI's contract.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { cacheDurationSeconds } from '../../src/credential-provider/answer.ts';
import { DEFAULT_REFRESH_SCHEDULE } from '../../src/token/refresh-time.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { providerRequest, runProvider, shippedProvider, startProviderBed, type ProviderBed } from '../support/credential-provider.ts';
import { buildTinyImage } from '../support/oci-image.ts';
import type { RegistryProcess } from '../support/registry.ts';
import { skopeoCopy, writeAuthfile } from '../support/skopeo.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { scratchDir } from '../support/scratch.ts';

const AUDIENCE = 'kube-regcred-provider-cli';
const NS = { allowed: 'provider-cli-a', annotated: 'provider-cli-b', refused: 'provider-cli-z' };

let cp: ControlPlane;
let dir: string;
let provider: string;
let registry: RegistryProcess;
let bed: ProviderBed;

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function saToken(namespace: string, name: string, audience = AUDIENCE): Promise<string> {
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const result = await core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [audience], expirationSeconds: 600 } } });
  return result.status!.token!;
}

function args(extra: string[] = []): string[] {
  return ['credential-provider', '--issuer-url', bed.stsUrl, '--audience', AUDIENCE, ...extra];
}

before(async () => {
  cp = await useControlPlane();
  dir = scratchDir('provider-cli-');
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  const ignoreConflict = (err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  };
  for (const [namespace, sa] of [[NS.allowed, 'app'], [NS.annotated, 'builder'], [NS.refused, 'app']] as const) {
    await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(ignoreConflict);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: sa } } }).catch(ignoreConflict);
  }
  provider = (await shippedProvider()).path;

  bed = await startProviderBed(cp, dir, {
    audience: AUDIENCE,
    registryCount: 1,
    identities: [
      // What docs/credential-provider.md tells users: one identity per namespace, no annotation needed.
      { uid: `ns/${NS.allowed}`, issuer: 'cluster', subjectPattern: `system:serviceaccount:${NS.allowed}:*`, grants: [{ repository: 'apps/**', actions: ['pull'] }] },
      { uid: 'builder', issuer: 'cluster', subject: `system:serviceaccount:${NS.annotated}:builder`, grants: [{ repository: 'apps/**', actions: ['pull', 'push'] }] },
    ],
  });
  registry = bed.registries[0]!;

  // The image Pods pull, pushed as the builder identity with a credential the provider issued.
  const builder = await runProvider(provider, args(), providerRequest(`${registry.host}/apps/web`, await saToken(NS.annotated, 'builder'), { 'kube-regcred.io/identity': 'builder' }));
  assert.equal(builder.code, 0, builder.stderr);
  await bed.pushWith(builder.stdout, registry.host, buildTinyImage(mkdtempSync(join(dir, 'image-'))), 'apps/web:v1');
});

after(async () => {
  await bed?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a ServiceAccount of a namespace the sts allows gets a registry credential skopeo pulls with', async () => {
  const run = await runProvider(provider, args(['--identity-template', 'ns/{namespace}']), providerRequest(`${registry.host}/apps/web`, await saToken(NS.allowed, 'app')));
  assert.equal(run.code, 0, run.stderr);
  const response = JSON.parse(run.stdout);
  assert.deepEqual(Object.keys(response), ['apiVersion', 'kind', 'cacheKeyType', 'cacheDuration', 'auth']);
  assert.equal(response.apiVersion, 'credentialprovider.kubelet.k8s.io/v1');
  assert.equal(response.kind, 'CredentialProviderResponse');
  assert.equal(response.cacheKeyType, 'Registry');
  assert.deepEqual(Object.keys(response.auth), [registry.host]);
  const { username, password } = response.auth[registry.host];
  assert.equal(username, '_token');
  assert.equal(claimsOf(password).sub, `ns/${NS.allowed}`);
  // The controller's margin rule on the token's real exp, never past exp.
  const times = readJwtTimes(password);
  const seconds = Number(/^(\d+)s$/.exec(response.cacheDuration)![1]);
  const expected = cacheDurationSeconds({ token: password, ...times }, new Date(), DEFAULT_REFRESH_SCHEDULE);
  assert.ok(Math.abs(seconds - expected) <= 2, `cacheDuration ${seconds}s, the refresh rule gives ${expected}s`);
  assert.ok(seconds * 1000 < times.expiresAt.getTime() - Date.now(), 'cacheDuration ends before the token expires');
  assert.ok(seconds > 0);

  const authfile = writeAuthfile(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${username}:${password}`).toString('base64') } } }));
  try {
    const pulled = await skopeoCopy(`docker://${registry.host}/apps/web:v1`, `oci:${mkdtempSync(join(dir, 'pulled-'))}:latest`, { srcAuthfile: authfile });
    assert.ok(pulled.ok, pulled.stderr);
  } finally {
    rmSync(authfile, { force: true });
  }
});

test('a ServiceAccount of a namespace the sts refuses gets exit 1 and a one-line, token-free reason', async () => {
  const token = await saToken(NS.refused, 'app');
  const run = await runProvider(provider, args(['--identity-template', 'ns/{namespace}']), providerRequest(`${registry.host}/apps/web`, token));
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  const lines = run.stderr.trimEnd().split('\n');
  assert.match(lines.at(-1)!, /^kube-regcred credential-provider: StsForbidden: STS answered 403: .*identity not allowed/);
  assert.ok(!run.stderr.includes(token) && !run.stderr.includes(token.split('.')[1]!), 'stderr holds no part of the token');
  for (const line of lines.slice(0, -1)) assert.equal(typeof JSON.parse(line).level, 'string', 'every other stderr line is a JSON log');
});

test('an annotated ServiceAccount pulls as the annotated identity without a template', async () => {
  const run = await runProvider(provider, args(), providerRequest(`${registry.host}/apps/web`, await saToken(NS.annotated, 'builder'), { 'kube-regcred.io/identity': 'builder' }));
  assert.equal(run.code, 0, run.stderr);
  assert.equal(claimsOf(JSON.parse(run.stdout).auth[registry.host].password).sub, 'builder');
});

test('without an annotation or template the reason names the missing annotation', async () => {
  const run = await runProvider(provider, args(), providerRequest(`${registry.host}/apps/web`, await saToken(NS.allowed, 'app')));
  assert.equal(run.code, 1);
  assert.match(run.stderr, /IdentityInvalid: ServiceAccount provider-cli-a\/app has no kube-regcred\.io\/identity annotation for 127\.0\.0\.1:\d+/);
});

test('a token for another audience is refused before any exchange, saying which setting to fix', async () => {
  const run = await runProvider(provider, args(['--identity-template', 'ns/{namespace}']), providerRequest(`${registry.host}/apps/web`, await saToken(NS.allowed, 'app', 'someone-else')));
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`lacks audience ${AUDIENCE} .*serviceAccountTokenAudience`));
});

test('flags can come as KUBE_REGCRED_* environment variables (the provider config env)', async () => {
  const env = { KUBE_REGCRED_ISSUER_URL: bed.stsUrl, KUBE_REGCRED_AUDIENCE: AUDIENCE, KUBE_REGCRED_IDENTITY_TEMPLATE: 'ns/{namespace}', KUBE_REGCRED_CACHE_KEY_TYPE: 'Image' };
  const image = `${registry.host}/apps/web`;
  const run = await runProvider(provider, ['credential-provider'], providerRequest(image, await saToken(NS.allowed, 'app')), env);
  assert.equal(run.code, 0, run.stderr);
  const response = JSON.parse(run.stdout);
  assert.equal(response.cacheKeyType, 'Image');
  assert.deepEqual(Object.keys(response.auth), [image]);
});

test('sts down: exit 1 with StsUnreachable; the next call after it is back succeeds', async () => {
  await bed.stopSts();
  const token = await saToken(NS.allowed, 'app');
  const down = await runProvider(provider, args(['--identity-template', 'ns/{namespace}']), providerRequest(`${registry.host}/apps/web`, token));
  assert.equal(down.code, 1);
  assert.match(down.stderr.trimEnd().split('\n').at(-1)!, /^kube-regcred credential-provider: StsUnreachable: STS unreachable \(ECONNREFUSED\)$/);
  await bed.startSts();
  const back = await runProvider(provider, args(['--identity-template', 'ns/{namespace}']), providerRequest(`${registry.host}/apps/web`, token));
  assert.equal(back.code, 0, back.stderr);
});
