// Configuration reloads on the real server: file edits, a ConfigMap-style symlink swap, a bad file
// that is logged while the old configuration keeps serving, and no request dropped meanwhile.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { RunningSts } from '../../src/cmd/sts.ts';
import { waitFor } from '../support/wait.ts';
import {
  SERVICE,
  baseConfig,
  captureLogs,
  createSigningMaterial,
  createTestIssuer,
  startTestSts,
  type SigningMaterial,
  type TestIssuer,
} from './sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const logs = captureLogs();
let a: TestIssuer;
let b: TestIssuer;
let signing: SigningMaterial;
let dir: string;
let sts: RunningSts;
let generation = 0;

/** Writes the config the way kubelet updates a ConfigMap volume: new directory, then swap `..data`. */
function publish(config: unknown): void {
  generation++;
  const version = `..v${generation}`;
  mkdirSync(join(dir, version));
  writeFileSync(join(dir, version, 'config.yaml'), typeof config === 'string' ? config : toYaml(config));
  symlinkSync(version, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
}

function configWith(extraIdentities: unknown[]): Record<string, unknown> {
  const config = baseConfig(a, b, signing);
  (config.identities as unknown[]).push(...extraIdentities);
  return config;
}

const newcomer = (uid: string) => ({ uid, issuer: 'a', subject: `subject-${uid}`, grants: [{ repository: 'x', actions: ['pull'] }] });

async function exchangeStatus(uid: string, subject = `subject-${uid}`): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${sts.port}/sts/exchange?aud=${SERVICE}&identity=${uid}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await a.sign(subject)}` },
  });
  await res.arrayBuffer();
  return res.status;
}

before(async () => {
  a = await createTestIssuer('a');
  b = await createTestIssuer('b');
  dir = scratchDir('sts-reload-');
  signing = createSigningMaterial('ec', scratchDir('sts-reload-pki-'));
  publish(configWith([]));
  symlinkSync('..data/config.yaml', join(dir, 'config.yaml'));
  sts = await startTestSts(join(dir, 'config.yaml'), logs);
});

after(() => sts?.stop());

test('a ConfigMap-style symlink swap is picked up', async () => {
  assert.equal(await exchangeStatus('first'), 403);
  publish(configWith([newcomer('first')]));
  await waitFor(async () => (await exchangeStatus('first')) === 200, { description: 'identity "first" known after the swap', timeoutMs: 10_000 });
});

test('a bad new file is logged with its field path and the old configuration keeps serving', async () => {
  const bad = configWith([newcomer('first'), newcomer('second')]);
  ((bad.identities as Record<string, unknown>[])[1]!.grants as Record<string, unknown>[])[0]!.repository = 'Bad Repo';
  publish(bad);
  const line = await waitFor(() => logs.lines.find((l) => l.includes('configuration reload failed')), { description: 'reload failure logged', timeoutMs: 10_000 });
  const entry = JSON.parse(line) as { code: string; reason: string; level: string };
  assert.equal(entry.code, 'ConfigInvalid');
  assert.equal(entry.level, 'error');
  assert.match(entry.reason, /identities\[1\]\.grants\[0\]\.repository: /);
  assert.equal(await exchangeStatus('first'), 200, 'the previous configuration still answers');
  assert.equal(await exchangeStatus('second'), 403);

  publish('identities: [unclosed');
  await waitFor(() => logs.lines.filter((l) => l.includes('configuration reload failed')).length >= 2, { description: 'YAML error logged', timeoutMs: 10_000 });
  assert.equal(await exchangeStatus('first'), 200);
  const metrics = await (await fetch(`http://127.0.0.1:${sts.opsPort}/metrics`)).text();
  assert.match(metrics, /kube_regcred_sts_config_reloads_total\{result="failure"\} [1-9]/);
  assert.equal((await fetch(`http://127.0.0.1:${sts.opsPort}/readyz`)).status, 200, 'still ready: it serves the old configuration');
});

test('no request is dropped while the configuration changes under load', async () => {
  let stop = false;
  const statuses: number[] = [];
  const clients = Array.from({ length: 8 }, async () => {
    while (!stop) statuses.push(await exchangeStatus('builder', 'system:serviceaccount:ci:builder'));
  });
  for (let i = 0; i < 5; i++) {
    publish(configWith([newcomer(`load-${i}`)]));
    await waitFor(async () => (await exchangeStatus(`load-${i}`)) === 200, { description: `generation load-${i} active`, timeoutMs: 10_000 });
  }
  stop = true;
  await Promise.all(clients);
  assert.ok(statuses.length > 20, `expected a stream of requests, got ${statuses.length}`);
  assert.deepEqual([...new Set(statuses)], [200], 'every request during the reloads succeeded');
});

test('a new signing key in place is picked up (key files are watched too)', async () => {
  const before = sts.runtime().tokens.key.thumbprintKid;
  const fresh = createSigningMaterial('ec', scratchDir('sts-reload-pki2-'));
  // Write the new key and certificate over the files the configuration names.
  writeFileSync(signing.leaf.keyFile, fresh.leaf.keyPem);
  writeFileSync(signing.leaf.certFile, fresh.leaf.certPem);
  const jwks = await waitFor(
    async () => {
      const body = (await (await fetch(`http://127.0.0.1:${sts.port}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      return body.keys[0]!.kid !== before ? body : undefined;
    },
    { description: 'the JWKS shows the new key', timeoutMs: 10_000 },
  );
  assert.equal(jwks.keys[0]!.kid, sts.runtime().tokens.key.thumbprintKid);
});
