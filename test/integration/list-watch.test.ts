// The list-watch cache and the Secret informer on it, against the real apiserver: a list in pages is
// complete, changes arrive in order, and what `transform` (or the informer's `keep`) turns down is
// never held.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKubeApi, KubeApiError, type KubeApi } from '../../src/kube/api-client.ts';
import { loadKubeConnection } from '../../src/kube/kube-config.ts';
import { createListWatch, type CacheEventType } from '../../src/kube/list-watch.ts';
import { createSecretInformer } from '../../src/kube/secret-informer.ts';
import { isManaged } from '../../src/annotations.ts';
import { createLogger } from '../../src/log.ts';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { waitFor } from '../support/wait.ts';
import { Kube } from './controller-harness.ts';

const logger = createLogger({ level: 'silent' });
const random = () => 0.5;

interface Seen {
  name: string;
  team: string | undefined;
}

describe('list-watch cache', () => {
  let cp: ControlPlane;
  let kube: Kube;
  let api: KubeApi;

  before(async () => {
    cp = await useControlPlane();
    kube = new Kube(cp);
    api = createKubeApi({ connection: loadKubeConnection({ kubeconfigPath: cp.writeKubeconfig('admin'), env: {} }) });
  });

  after(() => api?.close());

  it('reads a list in pages to the end, then follows changes in order', async () => {
    const ns = await kube.namespace('listwatch');
    for (let i = 0; i < 7; i++) {
      await kube.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `cm-${i}`, labels: { team: 'a' } } } });
    }
    const events: Array<[CacheEventType, string]> = [];
    const listed: number[] = [];
    const cache = createListWatch<Seen>({
      api,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      pageSize: 3,
      // Only ConfigMaps labelled team=a are kept.
      transform: (raw) => {
        const meta = (raw as { metadata: { name: string; labels?: Record<string, string> } }).metadata;
        return meta.labels?.['team'] === 'a' ? { name: meta.name, team: meta.labels['team'] } : undefined;
      },
      onEvent: (type, object) => events.push([type, object.name]),
      onListed: (kept) => listed.push(kept),
      description: 'ConfigMaps',
      logger,
      random,
    });
    try {
      await cache.start();
      assert.ok(cache.hasSynced());
      assert.deepEqual(listed, [7], 'three pages of at most 3 made one complete list');
      assert.equal(events.length, 7);
      assert.ok(events.every(([type]) => type === 'added'));
      assert.deepEqual(cache.list().map((c) => c.name).sort(), [0, 1, 2, 3, 4, 5, 6].map((i) => `cm-${i}`));

      events.length = 0;
      await kube.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cm-new', labels: { team: 'a' } } } });
      await kube.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cm-other', labels: { team: 'b' } } } });
      await kube.core.patchNamespacedConfigMap({ namespace: ns, name: 'cm-1', body: [{ op: 'add', path: '/data', value: { k: 'v' } }] });
      await kube.core.patchNamespacedConfigMap({ namespace: ns, name: 'cm-2', body: [{ op: 'replace', path: '/metadata/labels/team', value: 'b' }] });
      await kube.core.deleteNamespacedConfigMap({ namespace: ns, name: 'cm-3' });
      // A last change marks the end: the watch delivers in order, so anything about cm-other came before it.
      await kube.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cm-last', labels: { team: 'a' } } } });
      await waitFor(() => events.some(([, name]) => name === 'cm-last'), { description: 'the last change seen' });
      assert.deepEqual(events, [
        ['added', 'cm-new'],
        ['updated', 'cm-1'],
        ['deleted', 'cm-2'],
        ['deleted', 'cm-3'],
        ['added', 'cm-last'],
      ], 'cm-other (team b) was never kept, so it is no event');
      assert.equal(cache.get(`${ns}/cm-other`), undefined);
      assert.equal(cache.get(`${ns}/cm-2`), undefined, 'a ConfigMap that stops matching leaves the cache');
      assert.equal(cache.list().length, 7);
    } finally {
      await cache.stop();
    }
  });

  it('holds only opted-in Secrets: opting in adds one, opting out deletes it', async () => {
    const ns = await kube.namespace('optin');
    await kube.createPullSecret(ns, 'pull-secret', { 'kube-regcred.io/identity': 'optin/one' }, '{"auths":{}}');
    await kube.createPullSecret(ns, 'unrelated', { note: 'not ours' }, '{"auths":{"x":{"auth":"dTpw"}}}');
    const seen: Array<[string, string]> = [];
    const informer = createSecretInformer({
      api,
      namespaces: [ns],
      fieldSelector: 'type=kubernetes.io/dockerconfigjson',
      keep: (secret) => isManaged(secret.metadata?.annotations),
      logger,
      random,
    });
    informer.on((type, secret) => seen.push([type, secret.name]));
    try {
      await informer.start();
      const managed = informer.get(ns, 'pull-secret');
      assert.ok(managed?.data['.dockerconfigjson'], 'an opted-in Secret is held with its data');
      assert.equal(managed?.annotations['kube-regcred.io/identity'], 'optin/one');
      assert.ok(Object.isFrozen(managed) && Object.isFrozen(managed.data));
      assert.equal(informer.get(ns, 'unrelated'), undefined, 'the other Secret is not held at all');
      assert.deepEqual(seen, [['added', 'pull-secret']]);

      await kube.core.patchNamespacedSecret({ namespace: ns, name: 'unrelated', body: [{ op: 'add', path: '/metadata/annotations/kube-regcred.io~1identity', value: 'optin/two' }] });
      await waitFor(() => informer.get(ns, 'unrelated')?.data['.dockerconfigjson'] !== undefined, { description: 'held after opting in' });
      await kube.core.patchNamespacedSecret({ namespace: ns, name: 'pull-secret', body: [{ op: 'remove', path: '/metadata/annotations/kube-regcred.io~1identity' }] });
      await waitFor(() => informer.get(ns, 'pull-secret') === undefined, { description: 'gone after opting out' });
      assert.deepEqual(seen, [['added', 'pull-secret'], ['added', 'unrelated'], ['deleted', 'pull-secret']]);
      assert.equal(informer.list().length, 1);
    } finally {
      await informer.stop();
    }
  });

  it('reads Secrets in protobuf as the same objects JSON gives, in lists, watches and error answers', async () => {
    const ns = await kube.namespace('protobuf');
    const data = { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64'), binary: Buffer.from([0, 255, 128, 1]).toString('base64') };
    for (let i = 0; i < 3; i++) {
      await kube.core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: `s-${i}`, labels: { team: 'a' }, annotations: { 'kube-regcred.io/identity': `pb/${i}`, note: 'grüße →' } }, type: 'kubernetes.io/dockerconfigjson', data },
      });
    }
    const path = `/api/v1/namespaces/${ns}/secrets`;
    // The fields the Secret cache reads (secret-protobuf.ts decodes only those).
    const reduced = (item: unknown) => {
      const { metadata, type, data: values } = item as { metadata: Record<string, unknown>; type?: string; data?: Record<string, string> };
      const { name, namespace, uid, resourceVersion, labels, annotations } = metadata;
      return { metadata: { name, namespace, uid, resourceVersion, labels, annotations }, type, data: values };
    };
    // The second list is read at the first's version: a LIST's version is the whole cluster's, which
    // the other test files running beside this one move on.
    const list = async (secretsAsProtobuf: boolean, at?: string) => {
      const items: unknown[] = [];
      const version = at === undefined ? {} : { resourceVersion: at, resourceVersionMatch: 'Exact' };
      let page = await api.requestList(path, { query: { limit: 2, ...version }, secretsAsProtobuf });
      items.push(...page.items());
      const first = page.metadata;
      page = await api.requestList(path, { query: { limit: 2, continue: first?.continue }, secretsAsProtobuf });
      items.push(...page.items());
      return { items: items.map(reduced), first, last: page.metadata };
    };
    const json = await list(false);
    const protobuf = await list(true, json.first?.resourceVersion);
    assert.equal(protobuf.items.length, 3);
    assert.deepEqual(protobuf.items, json.items);
    assert.ok(protobuf.first?.continue && protobuf.first.resourceVersion === json.first?.resourceVersion);
    assert.ok(!protobuf.last?.continue);

    // One watch of each kind, from the same version, sees the same events.
    const version = json.first!.resourceVersion!;
    const watched = (secretsAsProtobuf: boolean) => {
      const events: Array<{ type: string; object: unknown }> = [];
      const abort = new AbortController();
      const done = api.watch(path, { resourceVersion: version }, (e) => events.push({ type: e.type, object: reduced(e.object) }), abort.signal, { secretsAsProtobuf });
      return { events, stop: async () => (abort.abort(), done) };
    };
    const watches = [watched(false), watched(true)];
    await kube.core.patchNamespacedSecret({ namespace: ns, name: 's-1', body: [{ op: 'add', path: '/metadata/annotations/extra', value: 'x' }] });
    await kube.core.deleteNamespacedSecret({ namespace: ns, name: 's-2' });
    await waitFor(() => watches.every((w) => w.events.length === 2), { description: 'both watches saw both changes' });
    for (const w of watches) await w.stop();
    assert.deepEqual(watches[1]!.events.map((e) => e.type), ['MODIFIED', 'DELETED']);
    assert.deepEqual(watches[1]!.events, watches[0]!.events);

    // An error answer comes as a protobuf Status: its reason is read from it.
    await assert.rejects(api.requestList(path, { query: { limit: 2, continue: 'not-a-continue-token' }, secretsAsProtobuf: true }), (err: unknown) => {
      assert.ok(err instanceof KubeApiError, String(err));
      assert.equal(err.status, 400);
      assert.equal(err.reason, 'BadRequest');
      return true;
    });
  });

  it('reads a write\'s new resourceVersion from its metadata, which the apiserver sends in protobuf', async () => {
    const ns = await kube.namespace('write-answer');
    await kube.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's' }, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': Buffer.from('{}').toString('base64') } } });
    const path = `/api/v1/namespaces/${ns}/secrets/s`;
    const patch = (annotations: Record<string, string>, resourceVersion?: string) =>
      api.requestResourceVersion('PATCH', path, { body: { metadata: { annotations, ...(resourceVersion ? { resourceVersion } : {}) } }, contentType: 'application/merge-patch+json' });
    const written = await patch({ a: '1' });
    const read = await kube.core.readNamespacedSecret({ namespace: ns, name: 's' });
    assert.equal(written, read.metadata?.resourceVersion);
    // What it asks for first is what the apiserver answers with.
    const raw = await api.requestText('PATCH', path, {
      body: { metadata: { annotations: { a: '2' } } },
      contentType: 'application/merge-patch+json',
      accept: 'application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
    });
    assert.match(String(raw.headers['content-type']), /^application\/vnd\.kubernetes\.protobuf\b/);
    // The envelope's type comes first, in ASCII: the metadata, not the Secret.
    assert.match(raw.text.slice(0, 64), /meta\.k8s\.io\/v1[\s\S]*PartialObjectMetadata/);
    // A stale precondition's 409 comes as a protobuf Status.
    await assert.rejects(patch({ b: '1' }, written), (err: unknown) => err instanceof KubeApiError && err.status === 409 && err.reason === 'Conflict');
  });
});
