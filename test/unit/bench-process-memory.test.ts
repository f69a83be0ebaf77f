// bench/process-memory.ts tells the owners of a process's resident pages apart by the shape of their
// mappings: a hand-made smaps with one mapping of each kind must land each in its own category.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { breakDown, formatBreakdownTable, parseSmaps } from '../../bench/process-memory.ts';

const BINARY = '/opt/node/bin/node';

function mapping(start: number, end: number, perms: string, name: string, rssKiB: number, anonymousKiB: number): string {
  return [
    `${start.toString(16)}-${end.toString(16)} ${perms} 00000000 fe:00 123    ${name}`,
    `Size:           ${(end - start) / 1024} kB`,
    `Rss:            ${rssKiB} kB`,
    `Pss:            ${rssKiB} kB`,
    `Anonymous:      ${anonymousKiB} kB`,
    'VmFlags: rd mr mw me',
  ].join('\n');
}

const KiB = 1024;
const MiB = 1024 * KiB;
const smaps = [
  mapping(0x400000, 0x400000 + 40 * MiB, 'r-xp', BINARY, 20 * KiB, 0),
  mapping(0x6b56000, 0x6b56000 + 156 * KiB, 'rw-p', BINARY, 156, 140),
  mapping(0x7f0000000000, 0x7f0000000000 + 2 * MiB, 'r-xp', '/usr/lib/libc.so.6', 1 * KiB, 0),
  mapping(0xbd47000, 0xbd47000 + 5 * MiB, 'rw-p', '[heap]', 4 * KiB, 4 * KiB),
  mapping(0x12084200000, 0x12084200000 + 256 * KiB, 'rw-p', '', 256, 256),
  mapping(0x7fa4be800000, 0x7fa4be800000 + 512 * MiB, 'rwxp', '', 2 * KiB, 2 * KiB),
  mapping(0x7fa4b4000000, 0x7fa4b4000000 + 9 * MiB, 'rw-p', '', 8 * KiB, 8 * KiB),
  mapping(0x7fa4c0001000, 0x7fa4c0002000, '---p', '', 0, 0),
  mapping(0x7fa4c0002000, 0x7fa4c0002000 + 4 * MiB, 'rw-p', '', 64, 64),
  mapping(0x7fa4d0001000, 0x7fa4d0001000 + 300 * KiB, 'rw-p', '', 300, 300),
  mapping(0x7fffb150f000, 0x7fffb150f000 + 132 * KiB, 'rw-p', '[stack]', 64, 64),
].join('\n');

describe('bench process memory breakdown', () => {
  const mappings = parseSmaps(smaps);

  it('reads every mapping with its resident and anonymous sizes', () => {
    assert.equal(mappings.length, 11);
    assert.deepEqual({ ...mappings[3]!, start: 0, end: 0 }, { start: 0, end: 0, perms: 'rw-p', name: '[heap]', rssKiB: 4 * KiB, anonymousKiB: 4 * KiB });
  });

  it('puts each mapping in its owner\'s category', () => {
    const b = breakDown(mappings, BINARY);
    assert.equal(b['node binary (file)'], 20 + 16 / 1024);
    assert.equal(b['shared libraries (file)'], 1);
    assert.equal(b['malloc main arena'], 4);
    assert.equal(b['V8 heap pages'], 0.25);
    assert.equal(b['V8 code range'], 2);
    assert.equal(b['malloc thread arenas'], 8);
    assert.equal(b['thread stacks'], (64 + 64) / 1024);
    // The binary's copy-on-write data and the odd-sized anonymous mapping.
    assert.equal(b['other anonymous'], (140 + 300) / 1024);
  });

  it('prints one column per process state with the totals', () => {
    const table = formatBreakdownTable([{ label: 'idle', breakdown: breakDown(mappings, BINARY) }]);
    assert.match(table, /^\| resident MiB \| idle \|$/m);
    assert.match(table, /^\| malloc thread arenas \| 8\.0 \|$/m);
    assert.match(table, /^\| \*\*file-backed\*\* \| 21\.0 \|$/m);
  });
});
