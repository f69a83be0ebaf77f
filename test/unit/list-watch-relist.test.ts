// What a relist does with list items the item filter passes over unparsed: a Secret the cache held
// that lost its opt-in annotation while no watch ran is reported deleted, as if it had been parsed and
// turned down. The API is an in-process fake serving list pages as bytes through the real list sink.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isManaged, OPT_IN_ANNOTATIONS } from '../../src/annotations.ts';
import { listSink } from '../../src/kube/answer-sinks.ts';
import type { KubeApi, WatchEvent } from '../../src/kube/api-client.ts';
import { containingAnyOf } from '../../src/kube/list-item-filter.ts';
import { createListWatch, type CacheEventType } from '../../src/kube/list-watch.ts';
import { createLogger } from '../../src/log.ts';
import { waitFor } from '../support/wait.ts';

interface Raw {
  metadata: { name: string; namespace: string; resourceVersion: string; annotations?: Record<string, string> };
}

/** Serves `objects` as list pages of 2; the first watch waits for `expire()`, then answers 410 Gone. */
function fakeApi(objects: Raw[]) {
  let expire: () => void = () => undefined;
  const expired = new Promise<void>((resolve) => (expire = resolve));
  let watches = 0;
  let lists = 0;
  const api: KubeApi = {
    server: 'https://fake',
    requestText: () => Promise.reject(new Error('not used')),
    request: () => Promise.reject(new Error('not used')),
    requestResourceVersion: () => Promise.reject(new Error('not used')),
    async requestList(_path, options) {
      lists++;
      const from = Number(options?.query?.['continue'] ?? 0);
      const items = objects.slice(from, from + 2);
      const more = from + 2 < objects.length;
      const sink = listSink(200, options?.buffer, undefined);
      sink.write(Buffer.from(JSON.stringify({ kind: 'SecretList', metadata: { resourceVersion: '10', ...(more ? { continue: String(from + 2) } : {}) }, items })));
      return sink.end();
    },
    async watch(_path, _query, onEvent: (event: WatchEvent) => void, signal) {
      if (watches++ === 0) {
        await expired;
        onEvent({ type: 'ERROR', object: { code: 410 } });
        return;
      }
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    },
    close: () => undefined,
  };
  return { api, expire: () => expire(), lists: () => lists };
}

const secret = (name: string, annotations: Record<string, string>): Raw => ({ metadata: { name, namespace: 'ns', resourceVersion: '1', annotations } });

describe('list-watch relist with an item filter', () => {
  it('reports deleted a held Secret that lost its opt-in annotation, and adds one that gained it', async () => {
    const identity = OPT_IN_ANNOTATIONS[0]!;
    const objects = [secret('a', { [identity]: 'x' }), secret('b', {}), secret('c', { note: 'n' }), secret('d', { [identity]: 'y' }), secret('e', {})];
    const fake = fakeApi(objects);
    const events: Array<[CacheEventType, string]> = [];
    let parsed = 0;
    const cache = createListWatch<string>({
      api: fake.api,
      path: '/api/v1/secrets',
      itemFilter: containingAnyOf(OPT_IN_ANNOTATIONS),
      transform: (raw) => {
        parsed++;
        const meta = (raw as Raw).metadata;
        return isManaged(meta.annotations) ? meta.name : undefined;
      },
      onEvent: (type, name) => events.push([type, name]),
      description: 'Secrets',
      logger: createLogger({ level: 'silent' }),
      random: () => 0.5,
      restartBaseMs: 1,
    });
    try {
      await cache.start();
      assert.deepEqual(events, [['added', 'a'], ['added', 'd']]);
      assert.equal(parsed, 2, 'the three Secrets without an opt-in annotation were not parsed');

      objects[0] = secret('a', { note: 'opted out' });
      objects[1] = secret('b', { [identity]: 'z' });
      fake.expire();
      await waitFor(() => events.length >= 5, { description: 'the relist after 410 Gone' });
      // In list order, and the Secret passed over last, by the sweep at the end of the list.
      assert.deepEqual(events.slice(2), [['added', 'b'], ['updated', 'd'], ['deleted', 'a']]);
      assert.deepEqual(cache.list().sort(), ['b', 'd']);
      assert.equal(fake.lists(), 6);
    } finally {
      await cache.stop();
    }
  });
});
