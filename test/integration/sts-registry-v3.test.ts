// Header styles against Distribution 3.x (v3.0.0 built from its Go module): `jwks` (RFC 7638 kid,
// the registry's `jwks` option fed with this service's /.well-known/jwks.json) for EC and RSA keys,
// and `x5c`. skopeo pushes and pulls with a /sts/exchange token. Skipped, saying so, when the v3
// binary is not built (see the path below).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RunningSts } from '../../src/cmd/sts.ts';
import { buildTinyImage } from '../support/oci-image.ts';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type KeyPairFiles } from '../support/pki.ts';
import { freePort } from '../support/ports.ts';
import { startComponent } from '../support/process.ts';
import { skopeoCopy, writeAuthfile } from '../support/skopeo.ts';
import { captureLogs, createTestIssuer, startTestSts, writeConfig, type TestIssuer } from '../unit/sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const REGISTRY_V3 =
  process.env.KUBE_REGCRED_REGISTRY_V3 ?? join(process.env.KUBE_REGCRED_CACHE ?? join(homedir(), '.cache', 'kube-regcred'), 'registry-v3.0.0');
// hack/ensure.sh (run by npm test) builds it: a missing binary is a broken set-up, not a reason to skip.
if (!existsSync(REGISTRY_V3)) {
  throw new Error(`Distribution v3 is not built at ${REGISTRY_V3}: run "bash hack/build-registry-v3.sh"`);
}
const SERVICE = 'registry-v3.kube-regcred.test';
const TOKEN_ISSUER = 'kube-regcred-sts-v3';
const SUBJECTS = { pusher: 'subject-pusher', puller: 'subject-puller' };

const logs = captureLogs();
const cleanups: (() => Promise<void>)[] = [];
let work: string;
let ca: CertificateAuthority;
let issuer: TestIssuer;
let image: string;

interface V3Registry {
  host: string;
}

async function startRegistryV3(realm: string, tokenAuth: Record<string, string>): Promise<V3Registry> {
  const dir = mkdtempSync(join(work, 'registry-'));
  const host = `127.0.0.1:${await freePort()}`;
  const configFile = join(dir, 'config.yml');
  writeFileSync(
    configFile,
    JSON.stringify({
      version: 0.1,
      log: { level: 'info', formatter: 'text' },
      storage: { filesystem: { rootdirectory: join(dir, 'data') } },
      http: { addr: host, secret: randomBytes(16).toString('hex') },
      auth: { token: { realm, service: SERVICE, issuer: TOKEN_ISSUER, ...tokenAuth } },
    }),
  );
  const component = await startComponent({
    name: 'registry-v3',
    command: REGISTRY_V3,
    args: ['serve', configFile],
    logFile: join(dir, 'registry.log'),
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' },
    ready: async () => (await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) })).status === 401,
    startTimeoutMs: 20_000,
  });
  cleanups.push(() => component.stop());
  return { host };
}

async function startSts(signer: KeyPairFiles, headerStyle: string, name: string): Promise<RunningSts> {
  const config = {
    service: SERVICE,
    tokenIssuer: TOKEN_ISSUER,
    signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle },
    issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: [issuer.audience], jwks: { keys: [issuer.publicJwk] } }],
    identities: [
      { uid: 'pusher', issuer: 'ci', subject: SUBJECTS.pusher, grants: [{ repository: 'apps/**', actions: ['pull', 'push'] }] },
      { uid: 'puller', issuer: 'ci', subject: SUBJECTS.puller, grants: [{ repository: 'apps/**', actions: ['pull'] }] },
    ],
  };
  const sts = await startTestSts(writeConfig(work, config, `${name}.yaml`), logs);
  cleanups.push(() => sts.stop());
  return sts;
}

async function authfile(sts: RunningSts, registry: V3Registry, identity: 'pusher' | 'puller'): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=${identity}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await issuer.sign(SUBJECTS[identity])}` },
  });
  assert.equal(res.status, 200);
  const { token } = (await res.json()) as { token: string };
  return writeAuthfile(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`_token:${token}`).toString('base64') } } }));
}

async function pushPullDeny(sts: RunningSts, registry: V3Registry, repository: string): Promise<void> {
  const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${registry.host}/${repository}:v1`, { destAuthfile: await authfile(sts, registry, 'pusher') });
  assert.ok(pushed.ok, `push failed: ${pushed.stderr}`);
  const out = mkdtempSync(join(work, 'pulled-'));
  const pulled = await skopeoCopy(`docker://${registry.host}/${repository}:v1`, `oci:${out}:latest`, { srcAuthfile: await authfile(sts, registry, 'puller') });
  assert.ok(pulled.ok, `pull failed: ${pulled.stderr}`);
  const denied = await skopeoCopy(`oci:${image}:latest`, `docker://${registry.host}/${repository}-by-puller:v1`, { destAuthfile: await authfile(sts, registry, 'puller') });
  assert.ok(!denied.ok, 'the push of a pull-only identity succeeded');
  assert.match(denied.stderr, /denied|unauthorized|authentication required/i);
}

/** The service's own /.well-known/jwks.json, saved as the registry's `jwks` file. */
async function jwksFileOf(sts: RunningSts, name: string): Promise<string> {
  const path = join(work, `${name}-jwks.json`);
  writeFileSync(path, await (await fetch(`http://127.0.0.1:${sts.port}/.well-known/jwks.json`)).text());
  return path;
}

describe('Distribution 3.x', () => {
  before(async () => {
    work = scratchDir('sts-v3-');
    ca = createCertificateAuthority(mkdtempSync(join(work, 'pki-')), 'kube-regcred sts v3 root');
    issuer = await createTestIssuer('ci');
    image = buildTinyImage(join(work, 'image'));
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  for (const keyType of ['ec', 'rsa'] as const) {
    test(`jwks header style (${keyType === 'ec' ? 'ES256' : 'RS256'}): the registry trusts the served JWKS by RFC 7638 kid`, async () => {
      const signer = issueCertificate(ca, { commonName: `v3 jwks ${keyType}`, keyType, fileStem: `v3-jwks-${keyType}` });
      const sts = await startSts(signer, 'jwks', `jwks-${keyType}`);
      const registry = await startRegistryV3(`http://127.0.0.1:${sts.port}/token`, { jwks: await jwksFileOf(sts, `jwks-${keyType}`) });
      await pushPullDeny(sts, registry, `apps/jwks-${keyType}`);
    });
  }

  test('x5c header style: the chain to the rootcertbundle CA', async () => {
    const signer = issueCertificate(ca, { commonName: 'v3 x5c', keyType: 'ec', fileStem: 'v3-x5c' });
    const sts = await startSts(signer, 'x5c', 'x5c');
    const registry = await startRegistryV3(`http://127.0.0.1:${sts.port}/token`, { rootcertbundle: ca.certFile });
    await pushPullDeny(sts, registry, 'apps/x5c');
  });

  for (const style of ['kid', 'jwk'] as const) {
    test(`the ${style} header style (libtrust key ID) is refused by 3.x, as docs/sts.md says`, async () => {
      const signer = issueCertificate(ca, { commonName: `v3 ${style}`, keyType: 'rsa', fileStem: `v3-${style}` });
      const sts = await startSts(signer, style, style);
      const registry = await startRegistryV3(`http://127.0.0.1:${sts.port}/token`, { rootcertbundle: signer.certFile });
      const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${registry.host}/apps/${style}:v1`, { destAuthfile: await authfile(sts, registry, 'pusher') });
      assert.ok(!pushed.ok, `Distribution 3.x accepted the ${style} style; update docs/sts.md`);
      assert.match(pushed.stderr, /unauthorized|authentication required|denied/i);
    });
  }

  test('no token in the service logs', () => {
    assert.doesNotMatch(logs.text(), /eyJ[A-Za-z0-9_-]{10,}/);
  });
});
