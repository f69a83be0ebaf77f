// The list-watch cache and the Secret informer on it, against the real apiserver: a list in pages is
// complete, changes arrive in order, and what `transform` (or the informer's `keep`) turns down is
// never held.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKubeApi, type KubeApi } from '../../src/kube/api-client.ts';
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
});
