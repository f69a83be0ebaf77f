// The list page decoder must give what JSON.parse of the whole page gives, however the bytes are cut
// into chunks, and refuse what JSON.parse refuses. Pages of the apiserver's shape, pages that are not,
// and random pages and random damage to them, each fed in every way of cutting it that matters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createListPageScanner, ListPageSyntaxError } from '../../src/kube/list-page-decoder.ts';
import { createPageBuffer } from '../../src/kube/page-buffer.ts';
import { prng } from '../support/prng.ts';
import { isPlainObject } from '../../src/plain-object.ts';

/** The page as the decoder gives it, rebuilt as one value: the shell with its items put back. */
function decode(chunks: readonly Buffer[]): Record<string, unknown> {
  const scanner = createListPageScanner();
  for (const chunk of chunks) scanner.push(chunk);
  const page = scanner.end();
  const items = [...page.items()];
  assert.equal(items.length, page.itemCount);
  assert.ok(!('items' in page.shell));
  return { ...page.shell, items };
}

/** What the decoder is to give for a page JSON.parse read: items absent or null is no items. */
function asDecoded(parsed: unknown): Record<string, unknown> {
  const page = parsed as Record<string, unknown>;
  return { ...page, items: page['items'] ?? [] };
}

function cut(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const size = Math.max(1, sizes[k % sizes.length]!);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

const TRICKY = ['', 'a', '"', '\\', '\\"', '{', '}', '[', ']', ',', ':', 'items', '"items":[', 'Grüße', '東京 ✓', '\u2028', '\n\t', '😀', '\\u0041'];

function randomValue(random: () => number, depth: number): unknown {
  const pick = random();
  if (depth > 3 || pick < 0.3) {
    const leaf = random();
    if (leaf < 0.5) return TRICKY[Math.floor(random() * TRICKY.length)]! + (random() < 0.3 ? 'x'.repeat(Math.floor(random() * 300)) : '');
    if (leaf < 0.7) return Math.floor(random() * 1e6) / 8;
    if (leaf < 0.8) return random() < 0.5;
    return null;
  }
  if (pick < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
  const object: Record<string, unknown> = {};
  for (let k = Math.floor(random() * 5); k > 0; k--) object[TRICKY[Math.floor(random() * TRICKY.length)]! + k] = randomValue(random, depth + 1);
  return object;
}

function randomPage(random: () => number): Record<string, unknown> {
  const items = Array.from({ length: Math.floor(random() * 6) }, () => randomValue(random, 1)).map((v) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? v : { value: v },
  );
  const metadata = { resourceVersion: String(Math.floor(random() * 1e9)), continue: random() < 0.5 ? 'eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ' : undefined };
  return random() < 0.5 ? { kind: 'SecretList', apiVersion: 'v1', metadata, items } : { items, metadata, kind: 'SecretList' };
}

function secret(n: number): Record<string, unknown> {
  return {
    metadata: {
      name: `pull-secret-${n}`,
      namespace: `team-${n % 7}`,
      resourceVersion: String(1000 + n),
      annotations: { 'kube-regcred.io/identity': `uid-${n}`, note: 'quote " backslash \\ brace { bracket ] Grüße' },
      managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:data': { '.': {}, 'f:.dockerconfigjson': {} } } }],
    },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(`{"auths":{"r${n}.example":{"auth":"dXNlcjpwYXNz"}}}`).toString('base64') },
  };
}

describe('list page decoder', () => {
  const page = { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: '12345', continue: 'abc' }, items: [secret(1), secret(2), secret(3)] };

  it('gives what JSON.parse gives, cut into chunks of every size from 1 byte to the whole', () => {
    const bytes = Buffer.from(JSON.stringify(page));
    for (let size = 1; size <= bytes.length; size += size < 64 ? 1 : 97) {
      assert.deepEqual(decode(cut(bytes, [size])), page, `chunks of ${size} bytes`);
    }
  });

  it('finds the items key past top-level strings with escapes, wherever a chunk ends', () => {
    const doc = { 'ki"nd': 'Secret\\"List\\', '\\': '"items":[', items: [secret(4)], 'items\\': ['x'], metadata: { continue: '\\"' } };
    const bytes = Buffer.from(JSON.stringify(doc));
    for (let size = 1; size <= 40; size++) assert.deepEqual(decode(cut(bytes, [size])), doc, `chunks of ${size} bytes`);
  });

  it('gives what JSON.parse gives for a page laid out with whitespace, and for metadata after the items', () => {
    for (const text of [JSON.stringify(page, null, 2), JSON.stringify({ items: page.items, metadata: page.metadata, kind: 'SecretList' }, null, '\t')]) {
      const bytes = Buffer.from(text.replace(/\n/g, '\r\n'));
      for (const sizes of [[bytes.length], [1], [3, 5, 7], [64]]) assert.deepEqual(decode(cut(bytes, sizes)), asDecoded(JSON.parse(text)));
    }
  });

  it('reads the pages of one list into one buffer, grown when a page needs more', () => {
    const buffer = createPageBuffer();
    const small = { metadata: { continue: 'a' }, items: [secret(5)] };
    const large = { metadata: { continue: '' }, items: Array.from({ length: 200 }, (_, n) => secret(n)) };
    for (const doc of [small, large, small, large]) {
      const bytes = Buffer.from(JSON.stringify(doc));
      const scanner = createListPageScanner(buffer);
      for (const chunk of cut(bytes, [4096])) scanner.push(chunk);
      const page = scanner.end();
      assert.deepEqual({ ...page.shell, items: [...page.items()] }, doc);
      assert.equal(page.bytes, bytes.length);
      assert.ok(buffer.bytes.length >= bytes.length);
    }
    assert.ok(buffer.bytes.length < 4 * Buffer.byteLength(JSON.stringify(large)), 'grown to the page, not far past it');
  });

  it('parses each item only when it is reached', () => {
    const bytes = Buffer.from(JSON.stringify(page).replace('"pull-secret-3"', '"pull-secret-3" oops'));
    const scanner = createListPageScanner();
    scanner.push(bytes);
    const decoded = scanner.end();
    assert.equal(decoded.itemCount, 3);
    const seen: unknown[] = [];
    assert.throws(() => {
      for (const item of decoded.items()) seen.push(item);
    }, ListPageSyntaxError);
    assert.equal(seen.length, 2);
  });

  it('takes a page with no items, an empty items array and items: null', () => {
    for (const doc of [{ kind: 'SecretList', metadata: {} }, { metadata: {}, items: [] }, { metadata: { resourceVersion: '1' }, items: null }, { items: null, metadata: {} }]) {
      const decoded = createListPageScanner();
      decoded.push(Buffer.from(JSON.stringify(doc)));
      const result = decoded.end();
      assert.deepEqual([...result.items()], []);
      assert.deepEqual(result.shell['metadata'], doc.metadata);
    }
  });

  it('keeps the items of a nested items key inside the item or the metadata', () => {
    const doc = { metadata: { items: [1, 2] }, items: [{ items: [{ a: 1 }], metadata: { name: 'x' } }] };
    assert.deepEqual(decode(cut(Buffer.from(JSON.stringify(doc)), [5])), doc);
  });

  it('refuses what is not one list object', () => {
    const bad = [
      '',
      '[]',
      '"items"',
      '{"items":[{"a":1}]',
      '{"items":[{"a":1},]}',
      '{"items":[{"a":1}{"b":2}]}',
      '{"items":["a"]}',
      '{"items":"a"}',
      '{"items":{"a":1}}',
      '{"items":[{"a":"unterminated}]}',
      '{"items":[{"a":1}]}}',
      '{"items":[{"a":1}],"items":[]}',
      '{"items":[],"it\\u0065ms":[{"b":1}]}',
      '{"metadata":{},"items":[{"a":1}],}',
      '{"items":[{"a":1}]} trailing',
    ];
    for (const text of bad) {
      assert.throws(
        () => {
          const scanner = createListPageScanner();
          scanner.push(Buffer.from(text));
          [...scanner.end().items()];
        },
        ListPageSyntaxError,
        text,
      );
    }
  });

  it('agrees with JSON.parse on random pages, cut at random', () => {
    const random = prng(16);
    for (let round = 0; round < 400; round++) {
      const doc = randomPage(random);
      const bytes = Buffer.from(random() < 0.3 ? JSON.stringify(doc, null, 1) : JSON.stringify(doc));
      const sizes = Array.from({ length: 4 }, () => 1 + Math.floor(random() * 40));
      assert.deepEqual(decode(cut(bytes, sizes)), asDecoded(JSON.parse(bytes.toString('utf8'))), `round ${round}`);
    }
  });

  it('on damaged pages, gives JSON.parse\'s answer or refuses, never a different page', () => {
    const random = prng(4412);
    let refused = 0;
    for (let round = 0; round < 3000; round++) {
      const original = Buffer.from(JSON.stringify(randomPage(random)));
      const bytes = Buffer.from(original);
      const damaged = ((): Buffer => {
        const at = Math.floor(random() * bytes.length);
        const choice = random();
        const structural = Buffer.from('{}[]",:\\ a1');
        const byte = structural[Math.floor(random() * structural.length)]!;
        if (choice < 0.33) return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
        if (choice < 0.66) return Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)]);
        bytes[at] = byte;
        return bytes;
      })();
      let expected: unknown;
      let parses = true;
      try {
        expected = JSON.parse(damaged.toString('utf8'));
      } catch {
        parses = false;
      }
      let decoded: unknown;
      let error: unknown;
      try {
        decoded = decode(cut(damaged, [1 + Math.floor(random() * 30)]));
      } catch (err) {
        error = err;
      }
      if (error === undefined) {
        assert.ok(parses, `round ${round}: decoded a page JSON.parse refuses: ${damaged.toString('utf8')}`);
        assert.deepEqual(decoded, asDecoded(expected), `round ${round}`);
        continue;
      }
      assert.ok(error instanceof ListPageSyntaxError, `round ${round}: ${String(error)}`);
      refused++;
      // Refusing is right unless JSON.parse read a list: an object whose items, if any, are objects.
      const items = isPlainObject(expected) ? (expected as { items?: unknown }).items : undefined;
      const isList = isPlainObject(expected) && (items === undefined || items === null || (Array.isArray(items) && items.every(isPlainObject)));
      assert.ok(!(parses && isList), `round ${round}: refused a list JSON.parse takes: ${damaged.toString('utf8')}`);
    }
    assert.ok(refused > 1000, `only ${refused} of 3000 damaged pages were refused`);
  });
});
