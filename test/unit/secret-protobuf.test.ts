// The protobuf decoding of Secrets (list pages, watch frames, error Statuses) must give what JSON gives
// for the fields the cache reads, pass over the fields it does not, and refuse damaged bytes with
// ProtobufSyntaxError (KubeApiError InvalidProtobuf at the edge), never anything else. The real
// apiserver's bytes are checked against its JSON in test/integration/list-watch.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { protobufSecretListSink } from '../../src/kube/answer-sinks.ts';
import { kubeApiErrorOf, KubeApiError } from '../../src/kube/api-errors.ts';
import type { WatchEvent } from '../../src/kube/api-client.ts';
import { containingAnyOf } from '../../src/kube/list-item-filter.ts';
import { createPageBuffer } from '../../src/kube/page-buffer.ts';
import { ProtobufSyntaxError, readObject, readSecret, readSecretListAnswer, readStatusAnswer } from '../../src/kube/secret-protobuf.ts';
import { protobufWatchFrames } from '../../src/kube/watch-streams.ts';
import { encode, envelope, msg, secretMessage, watchFrame, type SecretFields } from '../support/protobuf-writer.ts';
import { prng } from '../support/prng.ts';

const managed: SecretFields = {
  name: 'pull-secret',
  namespace: 'team-a',
  uid: '0b5e2b0c-1f4c-4a55-9d43-8f0c1d2e3f40',
  resourceVersion: '4711',
  labels: { app: 'web' },
  annotations: { 'kube-regcred.io/identity': 'abc/def', 'note': 'grüße →' },
  type: 'kubernetes.io/dockerconfigjson',
  data: { '.dockerconfigjson': Buffer.from('{"auths":{}}'), binary: Buffer.from([0, 255, 128, 1]) },
};
const unrelated: SecretFields = { name: 'other', namespace: 'team-a', resourceVersion: '12', type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.alloc(8192, 'x') } };

/** What JSON.parse of the apiserver's JSON would give, reduced to the fields the decoder reads. */
function asJson(s: SecretFields): unknown {
  const metadata: Record<string, unknown> = {};
  for (const key of ['name', 'namespace', 'uid', 'resourceVersion', 'labels', 'annotations'] as const) if (s[key] !== undefined) metadata[key] = s[key];
  const out: Record<string, unknown> = { metadata };
  if (s.data) out['data'] = Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, v.toString('base64')]));
  if (s.type) out['type'] = s.type;
  return out;
}

function listAnswer(items: SecretFields[], meta: { resourceVersion?: string; continue?: string } = {}): Buffer {
  return envelope('v1', 'SecretList', msg([1, msg([2, meta.resourceVersion], [3, meta.continue], [4, meta.continue ? 7 : undefined])], ...items.map((s): [number, ReturnType<typeof secretMessage>] => [2, secretMessage(s)])));
}

function readList(bytes: Buffer, chunkSize: number, filter?: ReturnType<typeof containingAnyOf>) {
  const sink = protobufSecretListSink(200, createPageBuffer(), undefined);
  for (let at = 0; at < bytes.length; at += chunkSize) sink.write(bytes.subarray(at, at + chunkSize));
  const page = sink.end();
  return { metadata: page.metadata, itemCount: page.itemCount, items: [...page.items(filter)] };
}

describe('Secrets in protobuf', () => {
  it('decodes an enveloped Secret to the JSON shape, passing over managedFields and the rest', () => {
    const bytes = envelope('v1', 'Secret', secretMessage(managed));
    assert.deepEqual(readObject(bytes, 0, bytes.length), asJson(managed));
  });

  it('reads a list page cut into chunks of any size, and passes over the items the filter rules out', () => {
    const bytes = listAnswer([managed, unrelated, managed], { resourceVersion: '99', continue: 'next-page' });
    for (const size of [1, 3, 7, 64, 1000, bytes.length]) {
      const all = readList(bytes, size);
      assert.deepEqual(all.metadata, { resourceVersion: '99', continue: 'next-page', remainingItemCount: 7 });
      assert.equal(all.itemCount, 3);
      assert.deepEqual(all.items, [asJson(managed), asJson(unrelated), asJson(managed)]);
    }
    const filtered = readList(bytes, 4096, containingAnyOf(['kube-regcred.io/identity']));
    assert.equal(filtered.itemCount, 3);
    assert.deepEqual(filtered.items, [asJson(managed), asJson(managed)]);
  });

  it('reads watch frames however the stream is cut, and decodes an ERROR event to its Status', () => {
    const status = envelope('v1', 'Status', msg([2, 'Failure'], [3, 'too old resource version: 1 (4711)'], [4, 'Expired'], [6, 410]));
    const stream = Buffer.concat([
      watchFrame('ADDED', envelope('v1', 'Secret', secretMessage(managed))),
      watchFrame('MODIFIED', envelope('v1', 'Secret', secretMessage(unrelated))),
      watchFrame('ERROR', status),
    ]);
    const want = [
      { type: 'ADDED', object: asJson(managed) },
      { type: 'MODIFIED', object: asJson(unrelated) },
      { type: 'ERROR', object: { kind: 'Status', status: 'Failure', message: 'too old resource version: 1 (4711)', reason: 'Expired', code: 410 } },
    ];
    for (const size of [1, 2, 5, 100, stream.length]) {
      const events: WatchEvent[] = [];
      const failures: unknown[] = [];
      const onData = protobufWatchFrames(200, (e) => events.push(e), (err) => failures.push(err), () => false);
      for (let at = 0; at < stream.length; at += size) onData(stream.subarray(at, at + size));
      assert.deepEqual(failures, []);
      assert.deepEqual(events, want);
    }
  });

  it('stops at the first frame that does not decode, once, and after a handler that throws', () => {
    const good = watchFrame('ADDED', envelope('v1', 'Secret', secretMessage(managed)));
    const bad = watchFrame('ADDED', Buffer.from('not protobuf'));
    const events: WatchEvent[] = [];
    const failures: unknown[] = [];
    const onData = protobufWatchFrames(200, (e) => events.push(e), (err) => failures.push(err), () => false);
    onData(Buffer.concat([good, bad, good]));
    onData(good);
    assert.equal(events.length, 1);
    assert.equal(failures.length, 1);
    assert.ok(failures[0] instanceof KubeApiError && failures[0].reason === 'InvalidProtobuf');

    const thrown: unknown[] = [];
    const boom = new Error('handler');
    const throwing = protobufWatchFrames(200, () => { throw boom; }, (err) => thrown.push(err), () => false);
    throwing(Buffer.concat([good, good]));
    assert.deepEqual(thrown, [boom]);

    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0xffffffff);
    const big: unknown[] = [];
    protobufWatchFrames(200, () => {}, (err) => big.push(err), () => false)(huge);
    assert.ok(big[0] instanceof KubeApiError && big[0].reason === 'InvalidProtobuf', 'a length past any object is refused, not waited for');
  });

  it('reads an error answer\'s Status, causes included, without the values they quote', () => {
    const status = envelope('v1', 'Status', msg([2, 'Failure'], [3, 'Secret "x" is invalid'], [4, 'Invalid'], [5, msg([4, msg([1, 'FieldValueTooLong'], [2, 'Too long: "s3cr3t" may not be more than 1048576 bytes'], [3, 'data'])])], [6, 422]));
    const error = kubeApiErrorOf(422, undefined, readStatusAnswer(status));
    assert.equal(error.reason, 'Invalid');
    assert.match(error.detail ?? '', /^data: FieldValueTooLong/);
    assert.doesNotMatch(error.message, /s3cr3t/);
    assert.equal(readStatusAnswer(envelope('v1', 'Secret', secretMessage(managed))), undefined);
  });

  it('refuses what is not a Kubernetes protobuf object of the expected kind', () => {
    const secret = encode(secretMessage(managed));
    const cases: Array<[string, Buffer]> = [
      ['no prefix', secret],
      ['another kind', envelope('v1', 'ConfigMap', secretMessage(managed))],
      ['compressed', envelope('v1', 'Secret', secretMessage(managed), [[3, 'gzip']])],
      ['truncated', envelope('v1', 'Secret', secretMessage(managed)).subarray(0, 40)],
      ['a group (wire type 3)', Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), Buffer.from([0x0b])])],
      ['a varint of 11 bytes', Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x08]), Buffer.alloc(11, 0xff)])],
      ['a length past the end', Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x12, 0x7f]), Buffer.alloc(3)])],
    ];
    for (const [what, bytes] of cases) assert.throws(() => readObject(bytes, 0, bytes.length), ProtobufSyntaxError, what);
    assert.throws(() => readSecretListAnswer(envelope('v1', 'Secret', secretMessage(managed)), 0), ProtobufSyntaxError);
  });

  it('answers damaged bytes with ProtobufSyntaxError or a value, never another error (seeded)', () => {
    const random = prng(16);
    const original = listAnswer([managed, unrelated], { resourceVersion: '5' });
    for (let round = 0; round < 3000; round++) {
      const bytes = Buffer.from(original);
      const flips = 1 + Math.floor(random() * 4);
      for (let k = 0; k < flips; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const length = random() < 0.2 ? Math.floor(random() * bytes.length) : bytes.length;
      try {
        const page = readSecretListAnswer(bytes, length);
        for (const item of page.items) readSecret(bytes, item.start, item.end);
      } catch (err) {
        assert.ok(err instanceof ProtobufSyntaxError, `round ${round}: ${(err as Error).name}: ${(err as Error).message}`);
      }
    }
  });
});
