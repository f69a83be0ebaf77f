// The compact form the Secret cache keeps of a Docker config that is only kube-regcred's own entry: no
// token kept, the same decisions as from the whole document, anything else kept whole, and a write that
// must keep the omitted entry reads the document first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Secret } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { ANNOTATIONS } from '../../src/annotations.ts';
import { decide, decideSecret, type DecideSettings, type SecretReading } from '../../src/controller/decide.ts';
import { createControllerMetrics } from '../../src/controller/metrics.ts';
import { createSecretUpdates } from '../../src/controller/secret-updates.ts';
import { toSecretView } from '../../src/controller/secret-view.ts';
import { MAX_DOCKER_CONFIG_BYTES, omittedEntry, readSingleEntry, serializeDockerConfig, withRegistryToken } from '../../src/dockerconfig.ts';
import { RegcredError } from '../../src/errors.ts';
import type { DataWrite, DocumentRead, SecretWriter } from '../../src/kube/secret-writer.ts';
import { toSecretObject, type SecretObject } from '../../src/kube/secret-informer.ts';
import { compactDockerConfig, createCompactConfigs } from '../../src/kube/compact-docker-config.ts';
import { DEFAULT_REFRESH_SCHEDULE } from '../../src/token/refresh-time.ts';
import { tokenDigest } from '../../src/token/held-token.ts';

const UID = '720909c9f5279097d847ad02a2f24ba8f59de36a';
const NOW = new Date('2026-12-01T12:00:00Z');
const LIMITS = { dataKey: '.dockerconfigjson', maxDataBytes: MAX_DOCKER_CONFIG_BYTES };
const settings: DecideSettings = { defaultRegistry: 'cgr.dev', registries: ['registry.example'], refresh: DEFAULT_REFRESH_SCHEDULE };

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A compact JWS with the given claims (never verified here) and a signature of recognisable bytes. */
function jwt(claims: Record<string, unknown>): string {
  return `${b64url({ alg: 'ES256' })}.${b64url(claims)}.${Buffer.alloc(64, 7).toString('base64url')}`;
}
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
const FRESH = jwt({ iat: seconds(NOW) - 600, exp: seconds(NOW) + 3000, sub: 'x' });
const EXPIRING = jwt({ iat: seconds(NOW) - 3300, exp: seconds(NOW) + 300, sub: 'x' });

function secret(document: string | undefined, annotations: Record<string, string> = {}): V1Secret {
  return {
    metadata: { namespace: 'ns', name: 'pull-secret', uid: 'u-1', resourceVersion: '7', annotations: { [ANNOTATIONS.identity]: UID, ...annotations } },
    type: 'kubernetes.io/dockerconfigjson',
    data: document === undefined ? {} : ({ '.dockerconfigjson': Buffer.from(document).toString('base64') } as Record<string, string>),
  };
}
const own = (token: string, registry = 'cgr.dev') => serializeDockerConfig(withRegistryToken({}, registry, token));

describe('what the cache keeps of a Docker config', () => {
  it('keeps our own single entry as registry, username and a digest: no copy of the token', () => {
    const object = toSecretObject(secret(own(FRESH)), LIMITS);
    assert.deepEqual(object.data, {});
    assert.equal(object.compactConfig?.registry, 'cgr.dev');
    assert.equal(object.compactConfig?.username, '_token');
    assert.equal(object.compactConfig?.token.digest, tokenDigest(FRESH));
    const kept = JSON.stringify(object);
    for (const part of FRESH.split('.')) assert.ok(!kept.includes(part), 'no segment of the token is kept');
    assert.ok(!kept.includes(Buffer.from(`_token:${FRESH}`).toString('base64').slice(0, 40)), 'nor its auth value');
  });

  it('keeps every other document whole (other registries, other fields, another layout)', () => {
    const entry = { username: '_token', password: FRESH, auth: Buffer.from(`_token:${FRESH}`).toString('base64') };
    const others = [
      JSON.stringify({ auths: { 'cgr.dev': entry, 'ghcr.io': { auth: 'eDp5' } } }),
      JSON.stringify({ auths: { 'cgr.dev': { ...entry, identitytoken: 'z' } } }),
      JSON.stringify({ auths: { 'cgr.dev': entry }, credHelpers: { 'gcr.io': 'gcloud' } }),
      JSON.stringify({ auths: { 'cgr.dev': { password: entry.password, username: entry.username, auth: entry.auth } } }),
      JSON.stringify({ auths: { 'cgr.dev': entry } }, null, 1),
      JSON.stringify({ auths: { 'cgr.dev': { ...entry, auth: Buffer.from(`_token:other`).toString('base64') } } }),
      '{}',
    ];
    for (const document of others) {
      assert.equal(readSingleEntry(document), undefined, document.slice(0, 60));
      const object = toSecretObject(secret(document), LIMITS);
      assert.equal(object.compactConfig, undefined);
      assert.equal(object.data['.dockerconfigjson'], Buffer.from(document).toString('base64'));
    }
  });

  it('does not keep the status annotations it never reads', () => {
    const object = toSecretObject(secret(own(FRESH), { [ANNOTATIONS.expiresAt]: NOW.toISOString(), [ANNOTATIONS.refreshedAt]: NOW.toISOString(), [ANNOTATIONS.lastError]: 'X' }), LIMITS);
    assert.deepEqual(object.annotations, { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.lastError]: 'X' });
  });
});

describe('decisions from the compact form are those from the whole document', () => {
  const cases: Array<[string, string, Record<string, string>]> = [
    ['a fresh token', own(FRESH), {}],
    ['an expiring token', own(EXPIRING), {}],
    ['a token for another registry than the annotation names', own(FRESH, 'cgr.dev'), { [ANNOTATIONS.registry]: 'registry.example' }],
    ['an opaque token', own('opaque-token-value'), {}],
  ];
  for (const [name, document, annotations] of cases) {
    it(name, () => {
      const compact = toSecretObject(secret(document, annotations), LIMITS);
      const full = toSecretObject(secret(document, annotations), undefined);
      assert.ok(compact.compactConfig !== undefined && full.compactConfig === undefined);
      assert.deepEqual(decide(toSecretView(compact), NOW, undefined, settings), decide(toSecretView(full), NOW, undefined, settings));
    });
  }

  it('an opaque token the exchange cache holds: wait, judged by digest', () => {
    const compact = toSecretObject(secret(own('opaque-token-value')), LIMITS);
    const cached = { token: 'opaque-token-value', expiresAt: new Date(NOW.getTime() + 3_600_000), issuedAt: NOW };
    assert.equal(decide(toSecretView(compact), NOW, cached, settings).kind, 'wait');
    assert.equal(decide(toSecretView(compact), NOW, { ...cached, token: 'another-token' }, settings).kind, 'refresh');
  });
});

describe('writes over a compact document', () => {
  function bed(stored: string) {
    const reads: DocumentRead[] = [];
    const writes: DataWrite[] = [];
    const writer: SecretWriter = {
      async readDocument(read) {
        reads.push(read);
        if (read.resourceVersion !== '7') throw new RegcredError('KubeConflict', 'changed since it was read');
        return Buffer.from(stored).toString('base64');
      },
      async writeData(write) {
        writes.push(write);
        return '8';
      },
      async writeStatus() {
        return '8';
      },
    };
    const metrics = createControllerMetrics({ registry: new Registry(), earliestExpirySeconds: () => undefined, managedSecrets: () => 0 });
    const updates = createSecretUpdates({ writer, events: { record: async () => {} }, metrics, clock: { now: () => NOW } });
    return { updates, reads, writes };
  }
  const reading = (object: SecretObject): SecretReading => {
    const { reading } = decideSecret(toSecretView(object), NOW, () => undefined, settings);
    assert.ok(reading);
    return reading;
  };
  const NEW = jwt({ iat: seconds(NOW), exp: seconds(NOW) + 3600 });
  const writtenDocument = (write: DataWrite | undefined) => Buffer.from(write?.dockerConfigBase64 ?? '', 'base64').toString('utf8');

  it('a new token for the same registry replaces the entry without reading the document', async () => {
    const object = toSecretObject(secret(own(EXPIRING)), LIMITS);
    const { updates, reads, writes } = bed(own(EXPIRING));
    await updates.writeToken(object, reading(object), { token: NEW, expiresAt: new Date(NOW.getTime() + 3_600_000) }, false);
    assert.equal(reads.length, 0);
    assert.equal(writtenDocument(writes[0]), own(NEW));
  });

  it('one token written to several Secrets: each document is the one its own entries make', async () => {
    const token = { token: NEW, expiresAt: new Date(NOW.getTime() + 3_600_000) };
    const { updates, writes } = bed(own(FRESH, 'cgr.dev'));
    const plain = toSecretObject(secret(own(EXPIRING)), LIMITS);
    await updates.writeToken(plain, reading(plain), token, false);
    await updates.writeToken(plain, reading(plain), token, false);
    // The same token beside another registry's entry, and for another registry.
    const beside = toSecretObject(secret(own(FRESH, 'cgr.dev'), { [ANNOTATIONS.registry]: 'registry.example' }), LIMITS);
    await updates.writeToken(beside, reading(beside), token, false);
    const retargeted = toSecretObject(secret('{}', { [ANNOTATIONS.registry]: 'registry.example' }), LIMITS);
    await updates.writeToken(retargeted, reading(retargeted), token, false);
    assert.deepEqual(writes.map(writtenDocument), [own(NEW), own(NEW), serializeDockerConfig(withRegistryToken(withRegistryToken({}, 'cgr.dev', FRESH), 'registry.example', NEW)), own(NEW, 'registry.example')]);
  });

  it('a token for another registry keeps the old entry, read from the API at the same resourceVersion', async () => {
    const object = toSecretObject(secret(own(FRESH, 'cgr.dev'), { [ANNOTATIONS.registry]: 'registry.example' }), LIMITS);
    const { updates, reads, writes } = bed(own(FRESH, 'cgr.dev'));
    await updates.writeToken(object, reading(object), { token: NEW, expiresAt: new Date(NOW.getTime() + 3_600_000) }, false);
    assert.deepEqual(reads, [{ namespace: 'ns', name: 'pull-secret', resourceVersion: '7', key: '.dockerconfigjson' }]);
    const written = JSON.parse(writtenDocument(writes[0])) as { auths: Record<string, { password: string }> };
    assert.equal(written.auths['cgr.dev']?.password, FRESH, 'the other entry is kept with its credential');
    assert.equal(written.auths['registry.example']?.password, NEW);
  });

  it('a registry change recorded in token-for drops our old entry without reading the document', async () => {
    const annotations = { [ANNOTATIONS.registry]: 'registry.example', [ANNOTATIONS.tokenFor]: `identity=${UID},registry=cgr.dev` };
    const object = toSecretObject(secret(own(FRESH, 'cgr.dev'), annotations), LIMITS);
    const { updates, reads, writes } = bed(own(FRESH, 'cgr.dev'));
    await updates.writeToken(object, reading(object), { token: NEW, expiresAt: new Date(NOW.getTime() + 3_600_000) }, false);
    assert.equal(reads.length, 0);
    assert.equal(writtenDocument(writes[0]), own(NEW, 'registry.example'));
  });

  it('a document changed since the cache saw it is not written: KubeConflict, retried on the new version', async () => {
    const object = { ...toSecretObject(secret(own(FRESH, 'cgr.dev'), { [ANNOTATIONS.registry]: 'registry.example' }), LIMITS), resourceVersion: '6' };
    const { updates, writes } = bed(own(FRESH, 'cgr.dev'));
    await assert.rejects(updates.writeToken(object, reading(object), { token: NEW, expiresAt: NOW }, false), (err: unknown) => err instanceof RegcredError && err.code === 'KubeConflict' && err.transient);
    assert.equal(writes.length, 0);
  });

  it('an omitted entry is never serialized', () => {
    assert.throws(() => serializeDockerConfig({ auths: { 'cgr.dev': omittedEntry('_token') } }), /omitted entry/);
  });
});

describe('strings and annotation maps shared across Secrets', () => {
  it('two Secrets of the same identity in one namespace share their namespace, name and annotations', () => {
    const a = toSecretObject(secret(own(FRESH)), LIMITS);
    const b = toSecretObject(secret(own(EXPIRING)), LIMITS);
    assert.equal(a.annotations, b.annotations, 'one frozen annotation map');
    assert.ok(Object.isFrozen(a.annotations));
    assert.equal(a.compactConfig?.token.digest === b.compactConfig?.token.digest, false);
    const other = toSecretObject(secret(own(FRESH), { [ANNOTATIONS.lastError]: 'ExchangeFailed: x' }), LIMITS);
    assert.notEqual(other.annotations, a.annotations, 'other entries: another map');
    assert.equal(other.annotations[ANNOTATIONS.lastError], 'ExchangeFailed: x');
  });
});

describe('the documents an informer has read, remembered', () => {
  const base64 = (document: string) => Buffer.from(document).toString('base64');

  it('Secrets holding the same document share one record; another document gets its own', () => {
    const compact = createCompactConfigs();
    const a = toSecretObject(secret(own(FRESH)), LIMITS, compact);
    const b = toSecretObject(secret(own(FRESH)), LIMITS, compact);
    const c = toSecretObject(secret(own(EXPIRING)), LIMITS, compact);
    assert.ok(a.compactConfig !== undefined);
    assert.equal(a.compactConfig, b.compactConfig, 'one record for both');
    assert.notEqual(c.compactConfig, a.compactConfig);
    assert.deepEqual(c.compactConfig, compactDockerConfig(base64(own(EXPIRING))), 'the same record as without the memory');
  });

  it('a document that is not one entry is remembered as that, and read the same each time', () => {
    const compact = createCompactConfigs();
    const other = base64(JSON.stringify({ auths: { 'cgr.dev': { auth: 'eDp5' }, 'ghcr.io': { auth: 'eDp5' } } }));
    assert.equal(compact(other), undefined);
    assert.equal(compact(other), undefined);
    assert.equal(compact(base64('\xff not json')), undefined);
  });

  it('holds at most its capacity, the least recently used going first', () => {
    const compact = createCompactConfigs(2);
    const token = (n: number) => jwt({ iat: seconds(NOW), exp: seconds(NOW) + 3600, sub: `s-${n}` });
    const docs = [0, 1, 2].map((n) => base64(own(token(n))));
    const first = compact(docs[0]!);
    const second = compact(docs[1]!);
    assert.equal(compact(docs[0]!), first, 'still held: used again, so now the most recent');
    compact(docs[2]!); // over capacity: docs[1], the least recently used, goes
    assert.equal(compact(docs[0]!), first, 'kept');
    const reread = compact(docs[1]!);
    assert.notEqual(reread, second, 'read again: a new record');
    assert.deepEqual(reread, second);
  });

  it('a value larger than any single entry bypasses the memory and still reads as not one entry', () => {
    const compact = createCompactConfigs();
    const large = base64(JSON.stringify({ auths: { 'cgr.dev': { auth: 'x'.repeat(20 * 1024) } } }));
    assert.equal(compact(large), undefined);
  });
});
