// The item filter may pass over a list item only when the cache would turn it down: never an item that
// holds an opt-in annotation, however its JSON spells the key. Checked on random Secrets written the
// way kube-apiserver writes them and with random escapes, and through the decoder on a whole page.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isManaged, OPT_IN_ANNOTATIONS } from '../../src/annotations.ts';
import { containingAnyOf } from '../../src/kube/list-item-filter.ts';
import { createListPageScanner } from '../../src/kube/list-page-decoder.ts';
import { prng } from '../support/prng.ts';

const filter = containingAnyOf(OPT_IN_ANNOTATIONS);
const mayMatch = (json: string) => filter.mayMatch(Buffer.from(json));

function secret(name: string, annotations: Record<string, string>): Record<string, unknown> {
  return {
    metadata: { name, namespace: 'team-a', resourceVersion: '7', annotations },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
  };
}

/** JSON with some characters of its strings written as escapes, as any JSON writer may. */
function escapeSome(json: string, random: () => number): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (inString && c === '\\') {
      out += c + json[++i];
      continue;
    }
    if (c === '"') inString = !inString;
    if (inString && c !== '"' && random() < 0.05) {
      out += c === '/' && random() < 0.5 ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
      continue;
    }
    out += c;
  }
  return out;
}

describe('list item filter', () => {
  it('passes over a Secret without an opt-in annotation, written as kube-apiserver writes it', () => {
    assert.equal(mayMatch(JSON.stringify(secret('other', { note: 'kube-regcred.io/registry is not an opt-in', 'kube-regcred.io/registry': 'r' }))), false);
    assert.equal(mayMatch(JSON.stringify(secret('other', {}))), false);
    // kubectl apply's copy of the object: escaped quotes and newlines stand for no key's character.
    assert.equal(mayMatch(JSON.stringify(secret('other', { 'kubectl.kubernetes.io/last-applied-configuration': '{"a":"b"}\n' }))), false);
  });

  it('keeps every Secret with an opt-in annotation, as a key however spelled', () => {
    for (const key of OPT_IN_ANNOTATIONS) {
      assert.equal(mayMatch(JSON.stringify(secret('ours', { [key]: 'x' }))), true, key);
      assert.equal(mayMatch(JSON.stringify(secret('ours', { [key]: 'x' })).replace(key, key.replace('/', '\\/'))), true, `${key} with \\/`);
      assert.equal(mayMatch(JSON.stringify(secret('ours', { [key]: 'x' })).replace(key, key.replace('e', '\\u0065'))), true, `${key} with \\u`);
    }
  });

  it('never rules out a random Secret the cache keeps, with random escapes', () => {
    const random = prng(16);
    const keys = [...OPT_IN_ANNOTATIONS, 'kube-regcred.io/registry', 'kube-regcred.io/identityx', 'pull-secret-updater.chainguard.dev/other', 'a/b'];
    let kept = 0;
    let passedOver = 0;
    for (let n = 0; n < 3000; n++) {
      const annotations: Record<string, string> = {};
      for (let k = Math.floor(random() * 4); k > 0; k--) annotations[keys[Math.floor(random() * keys.length)]!] = random() < 0.3 ? keys[Math.floor(random() * keys.length)]! : 'v';
      const plain = JSON.stringify(secret(`s-${n}`, annotations));
      const json = random() < 0.5 ? plain : escapeSome(plain, random);
      const parsed = JSON.parse(json) as { metadata: { annotations: Record<string, string> } };
      assert.deepEqual(parsed, JSON.parse(plain), 'the escapes spell the same object');
      const managed = isManaged(parsed.metadata.annotations);
      if (managed) kept++;
      if (!mayMatch(json)) {
        passedOver++;
        assert.equal(managed, false, `ruled out a managed Secret: ${json}`);
      }
    }
    // Both kinds occurred, so the checks above were exercised.
    assert.ok(kept > 500 && passedOver > 500, `${kept} kept, ${passedOver} passed over`);
  });

  it('refuses a string it could not find in JSON as it is', () => {
    assert.throws(() => containingAnyOf(['a"b']), TypeError);
    assert.throws(() => containingAnyOf(['a\\b']), TypeError);
  });

  it('lets the decoder pass over the items it rules out, in order, counting them all', () => {
    const items = [secret('a', { [OPT_IN_ANNOTATIONS[0]!]: 'x' }), secret('b', {}), secret('c', { [OPT_IN_ANNOTATIONS[1]!]: 'y' }), secret('d', { note: 'n' })];
    const scanner = createListPageScanner();
    scanner.push(Buffer.from(JSON.stringify({ kind: 'SecretList', metadata: { resourceVersion: '9' }, items })));
    const page = scanner.end();
    assert.equal(page.itemCount, 4);
    const names = [...page.items(filter)].map((item) => (item as { metadata: { name: string } }).metadata.name);
    assert.deepEqual(names, ['a', 'c']);
    assert.equal([...page.items()].length, 4, 'without a filter, every item');
  });
});
