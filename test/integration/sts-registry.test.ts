// The token service on real components: the test bed's kube-apiserver is the OIDC issuer (through its
// discovery document), a real Distribution 2.8 registry sends clients to the service, and skopeo
// pushes and pulls with an authfile built from a /sts/exchange token, for each header style.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { startStsProcess, type RunningSts } from '../../src/cmd/sts.ts';
import { buildTinyImage } from '../support/oci-image.ts';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type KeyPairFiles } from '../support/pki.ts';
import { startRegistry, type RegistryProcess } from '../support/registry.ts';
import { skopeoCopy, writeAuthfile } from '../support/skopeo.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { captureLogs } from '../unit/sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const SERVICE = 'registry.kube-regcred.test';
const TOKEN_ISSUER = 'kube-regcred-sts-integration';
const STS_AUDIENCE = 'kube-regcred-sts';
const ns = `sts-${randomUUID().slice(0, 8)}`;
const logs = captureLogs();
const secrets: string[] = [];
const stopAtEnd: (() => Promise<void>)[] = [];

let cp: ControlPlane;
let ca: CertificateAuthority;
let work: string;
let image: string;
const saTokens: Record<string, string> = {};

function stsConfig(signer: KeyPairFiles, headerStyle: string, exchangeLifetime = '10m'): Record<string, unknown> {
  return {
    service: SERVICE,
    tokenIssuer: TOKEN_ISSUER,
    lifetimes: { exchange: exchangeLifetime, registry: '5m' },
    signing: { keyFile: signer.keyFile, certificateFile: signer.certFile, headerStyle },
    // Discovery, not a static JWKS: the service reads the apiserver's /.well-known/openid-configuration.
    issuers: [{ name: 'cluster', issuer: cp.issuer, audiences: [STS_AUDIENCE], caFile: cp.caFile }],
    identities: [
      { uid: 'pusher', issuer: 'cluster', subject: `system:serviceaccount:${ns}:pusher`, grants: [{ repository: 'apps/**', actions: ['pull', 'push'] }] },
      {
        uid: 'puller',
        issuer: 'cluster',
        subjectPattern: `system:serviceaccount:${ns}:pull*`,
        condition: `claims["kubernetes.io"].namespace == "${ns}"`,
        grants: [{ repository: 'apps/**', actions: ['pull'] }],
      },
    ],
  };
}

async function startSts(config: Record<string, unknown>, name: string): Promise<RunningSts> {
  const path = join(work, `${name}.yaml`);
  writeFileSync(path, toYaml(config));
  const sts = await startStsProcess(
    { configPath: path, listen: { host: '127.0.0.1', port: 0 }, ops: { host: '127.0.0.1', port: 0 }, shutdownGraceMs: 1_000, logLevel: 'debug' },
    { logDestination: logs.stream, watch: { pollIntervalMs: 0 } },
  );
  stopAtEnd.push(() => sts.stop());
  return sts;
}

async function startRegistryFor(sts: RunningSts, bundle: string): Promise<RegistryProcess> {
  const registry = await startRegistry({ realm: `http://127.0.0.1:${sts.port}/token`, service: SERVICE, issuer: TOKEN_ISSUER, rootCertBundlePath: bundle });
  stopAtEnd.push(() => registry.stop());
  return registry;
}

/** /sts/exchange with a TokenRequest'd ServiceAccount token, as kube-regcred controller does it. */
async function exchange(sts: RunningSts, identity: string, serviceAccount: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=${identity}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${saTokens[serviceAccount]}` },
  });
  const text = await res.text();
  assert.equal(res.status, 200, `exchange for ${identity}: expected 200, got ${res.status} ${text}`);
  const token = (JSON.parse(text) as { token: string }).token;
  secrets.push(token);
  return token;
}

function authfileFor(registry: RegistryProcess, token: string): string {
  return writeAuthfile(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`_token:${token}`).toString('base64') } } }));
}

async function push(registry: RegistryProcess, token: string, repository: string) {
  return skopeoCopy(`oci:${image}:latest`, `docker://${registry.host}/${repository}:v1`, { destAuthfile: authfileFor(registry, token) });
}

async function pull(registry: RegistryProcess, token: string, repository: string) {
  const out = mkdtempSync(join(work, 'pulled-'));
  return skopeoCopy(`docker://${registry.host}/${repository}:v1`, `oci:${out}:latest`, { srcAuthfile: authfileFor(registry, token) });
}

before(async () => {
  cp = await useControlPlane();
  work = scratchDir('sts-integration-');
  ca = createCertificateAuthority(mkdtempSync(join(work, 'pki-')), 'kube-regcred sts integration root');
  image = buildTinyImage(join(work, 'image'));
  const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const name of ['pusher', 'puller', 'stranger']) {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    const issued = await core.createNamespacedServiceAccountToken({ name, namespace: ns, body: { spec: { audiences: [STS_AUDIENCE], expirationSeconds: 600 } } });
    saTokens[name] = issued.status!.token!;
    secrets.push(saTokens[name]);
  }
});

after(async () => {
  for (const stop of stopAtEnd.reverse()) await stop();
});

describe('x5c header (ES256, chain to the registry rootcertbundle)', () => {
  let sts: RunningSts;
  let registry: RegistryProcess;
  let signer: KeyPairFiles;

  before(async () => {
    signer = issueCertificate(ca, { commonName: 'sts signer x5c', keyType: 'ec', fileStem: 'signer-x5c' });
    sts = await startSts(stsConfig(signer, 'x5c'), 'x5c');
    // Only the CA: the registry must follow the x5c chain to it.
    registry = await startRegistryFor(sts, ca.certFile);
  });

  test('skopeo pushes and pulls with an authfile built from a /sts/exchange token', async () => {
    const pushed = await push(registry, await exchange(sts, 'pusher', 'pusher'), 'apps/hello');
    assert.ok(pushed.ok, `push failed: ${pushed.stderr}`);
    const pulled = await pull(registry, await exchange(sts, 'puller', 'puller'), 'apps/hello');
    assert.ok(pulled.ok, `pull failed: ${pulled.stderr}`);
  });

  test('a pull-only identity cannot push', async () => {
    const result = await push(registry, await exchange(sts, 'puller', 'puller'), 'apps/by-puller');
    assert.ok(!result.ok, 'the push of a pull-only identity succeeded');
    assert.match(result.stderr, /denied|unauthorized|authentication required/i);
  });

  test('a repository outside the grants is refused for push and pull', async () => {
    const token = await exchange(sts, 'pusher', 'pusher');
    const pushed = await push(registry, token, 'other/thing');
    assert.ok(!pushed.ok, 'a push outside the grants succeeded');
    assert.match(pushed.stderr, /denied|unauthorized|authentication required/i);
    const pulled = await pull(registry, token, 'other/thing');
    assert.ok(!pulled.ok, 'a pull outside the grants succeeded');
    assert.match(pulled.stderr, /denied|unauthorized|authentication required/i);
  });

  test('a ServiceAccount that matches no identity gets no exchange token', async () => {
    const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=pusher`, {
      method: 'POST',
      headers: { authorization: `Bearer ${saTokens.stranger}` },
    });
    assert.equal(res.status, 403);
  });

  test('an expired registry credential is refused', async () => {
    // A second service with the same key and policy but a 2 s exchange lifetime, on the same registry.
    const short = await startSts(stsConfig(signer, 'x5c', '2s'), 'x5c-short');
    const shortRegistry = await startRegistryFor(short, ca.certFile);
    const seed = await push(shortRegistry, await exchange(short, 'pusher', 'pusher'), 'apps/expiring');
    assert.ok(seed.ok, `seed push failed: ${seed.stderr}`);
    const token = await exchange(short, 'pusher', 'pusher');
    await sleep(3_000);
    const result = await pull(shortRegistry, token, 'apps/expiring');
    assert.ok(!result.ok, 'a pull with an expired credential succeeded');
    assert.match(result.stderr, /401|unauthorized/i);
    const metrics = await (await fetch(`http://127.0.0.1:${short.opsPort}/metrics`)).text();
    assert.match(metrics, /kube_regcred_sts_refusals_total\{reason="CredentialInvalid"\} [1-9]/);
  });
});

describe('libtrust kid header (RS256, key found in the rootcertbundle by its libtrust ID)', () => {
  test('skopeo pushes and pulls; a pull-only identity cannot push', async () => {
    const signer = issueCertificate(ca, { commonName: 'sts signer kid', keyType: 'rsa', fileStem: 'signer-kid' });
    const sts = await startSts(stsConfig(signer, 'kid'), 'kid');
    // Only the signer's own certificate: no chain is sent, the registry matches the kid.
    const registry = await startRegistryFor(sts, signer.certFile);
    const pushed = await push(registry, await exchange(sts, 'pusher', 'pusher'), 'apps/kid');
    assert.ok(pushed.ok, `push failed: ${pushed.stderr}`);
    const pulled = await pull(registry, await exchange(sts, 'puller', 'puller'), 'apps/kid');
    assert.ok(pulled.ok, `pull failed: ${pulled.stderr}`);
    const denied = await push(registry, await exchange(sts, 'puller', 'puller'), 'apps/kid-by-puller');
    assert.ok(!denied.ok, 'the push of a pull-only identity succeeded');
    assert.match(denied.stderr, /denied|unauthorized|authentication required/i);
  });
});

describe('jwk header (ES256, embedded key that is in the rootcertbundle)', () => {
  test('skopeo pushes and pulls', async () => {
    const signer = issueCertificate(ca, { commonName: 'sts signer jwk', keyType: 'ec', fileStem: 'signer-jwk' });
    const sts = await startSts(stsConfig(signer, 'jwk'), 'jwk');
    const registry = await startRegistryFor(sts, signer.certFile);
    const pushed = await push(registry, await exchange(sts, 'pusher', 'pusher'), 'apps/jwk');
    assert.ok(pushed.ok, `push failed: ${pushed.stderr}`);
    const pulled = await pull(registry, await exchange(sts, 'puller', 'puller'), 'apps/jwk');
    assert.ok(pulled.ok, `pull failed: ${pulled.stderr}`);
  });
});

describe('logs', () => {
  test('refusals are logged with their code; no ServiceAccount token or registry token appears in any log line', () => {
    const text = logs.text();
    assert.ok(logs.lines.some((line) => line.includes('"code":"CredentialInvalid"')), 'the expired credential was refused as CredentialInvalid');
    if (process.env.STS_TEST_PRINT_LOGS) process.stderr.write(text + '\n');
    for (const secret of secrets) {
      for (const part of secret.split('.')) if (part.length >= 16) assert.ok(!text.includes(part), 'a token appeared in the logs');
    }
  });
});
