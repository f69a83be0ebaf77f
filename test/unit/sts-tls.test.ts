// The optional HTTPS listener: served with the configured pair, a renewed pair is picked up for new
// connections without a restart, a broken renewal is reported and the old pair keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStsProcess } from '../../src/cmd/sts.ts';
import { parseStsSettings } from '../../src/sts/options.ts';
import { createCertificateAuthority, issueCertificate } from '../support/pki.ts';
import { baseConfig, captureLogs, createSigningMaterial, createTestIssuer, writeConfig } from './sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

function servedCommonName(port: number, ca: string): Promise<{ status: number; cn: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/.well-known/jwks.json', ca, agent: false }, (res) => {
      const cn = (res.socket as TLSSocket).getPeerCertificate().subject.CN as string;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cn }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('--tls-cert-file/--tls-key-file: HTTPS, a renewed certificate served without restart, a bad one ignored', async () => {
  const dir = scratchDir('sts-tls-');
  const ca = createCertificateAuthority(dir);
  const first = issueCertificate(ca, { commonName: 'sts-first', sans: ['127.0.0.1'] });
  const second = issueCertificate(ca, { commonName: 'sts-second', sans: ['127.0.0.1'] });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  copyFileSync(first.certFile, certFile);
  copyFileSync(first.keyFile, keyFile);
  const configPath = writeConfig(dir, baseConfig(await createTestIssuer('a'), await createTestIssuer('b'), createSigningMaterial('ec', dir)));
  const settings = parseStsSettings(['--config', configPath, '--listen-address', '127.0.0.1:0', '--ops-address', '127.0.0.1:0', '--tls-cert-file', certFile, '--tls-key-file', keyFile], {});
  const logs = captureLogs();
  const sts = await startStsProcess(settings, { logDestination: logs.stream, watch: { pollIntervalMs: 0 }, tlsPollMs: 100 });
  try {
    assert.deepEqual(await servedCommonName(sts.port, ca.certPem), { status: 200, cn: 'sts-first' });
    // A renewal: new certificate and key in place.
    copyFileSync(second.certFile, certFile);
    copyFileSync(second.keyFile, keyFile);
    await sleep(400);
    assert.deepEqual(await servedCommonName(sts.port, ca.certPem), { status: 200, cn: 'sts-second' });
    assert.ok(logs.lines.some((l) => l.includes('TLS certificate reloaded')));
    // A broken renewal (key of another certificate): reported, the second pair keeps serving.
    copyFileSync(first.keyFile, keyFile);
    await sleep(400);
    assert.equal((await servedCommonName(sts.port, ca.certPem)).cn, 'sts-second');
    assert.ok(logs.lines.some((l) => l.includes('TLS certificate reload failed')), 'the bad pair is reported');
    assert.ok(!logs.text().includes('PRIVATE KEY'), 'no key material in the logs');
  } finally {
    await sts.stop();
  }
});

test('--tls-cert-file without --tls-key-file is refused; a mismatched pair fails startup', async () => {
  assert.throws(() => parseStsSettings(['--config', 'x.yaml', '--tls-cert-file', 'a.crt'], {}), /go together/);
  const dir = scratchDir('sts-tls-bad-');
  const ca = createCertificateAuthority(dir);
  const one = issueCertificate(ca, { commonName: 'one' });
  const two = issueCertificate(ca, { commonName: 'two' });
  const configPath = writeConfig(dir, baseConfig(await createTestIssuer('a'), await createTestIssuer('b'), createSigningMaterial('ec', dir)));
  const settings = parseStsSettings(['--config', configPath, '--listen-address', '127.0.0.1:0', '--ops-address', '127.0.0.1:0', '--tls-cert-file', one.certFile, '--tls-key-file', two.keyFile], {});
  await assert.rejects(startStsProcess(settings, { logDestination: captureLogs().stream }), /not the certificate's/);
});
