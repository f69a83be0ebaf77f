// Where a process's resident memory is, from /proc/<pid>/smaps, for the token-service bench's memory
// table: file-backed pages (the node binary's code and read-only data, shared libraries: shared and
// reclaimable, but counted in RSS and VmHWM) and anonymous ones by owner. The owners of anonymous
// mappings are told apart by their shape, as the kernel does not name them: V8 allocates its heap in
// 256 KiB-aligned pages and its code in one reserved executable range; glibc malloc's main arena is
// [heap] and its thread arenas are 64 MiB-aligned heaps; a thread stack follows its guard page.
import { readFileSync } from 'node:fs';

export const MEMORY_CATEGORIES = [
  'node binary (file)',
  'shared libraries (file)',
  'V8 heap pages',
  'V8 code range',
  'malloc main arena',
  'malloc thread arenas',
  'thread stacks',
  'other anonymous',
] as const;
export type MemoryCategory = (typeof MEMORY_CATEGORIES)[number];
/** Resident MiB per category. */
export type MemoryBreakdown = Record<MemoryCategory, number>;

export interface Mapping {
  start: number;
  end: number;
  perms: string;
  /** Path, [heap], [stack], ... or '' for an anonymous mapping. */
  name: string;
  rssKiB: number;
  anonymousKiB: number;
}

const MIB = 1024 * 1024;
const V8_PAGE = 256 * 1024;
const ARENA_ALIGNMENT = 64 * MIB;

export function parseSmaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  let current: Mapping | undefined;
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      current = { start: parseInt(header[1]!, 16), end: parseInt(header[2]!, 16), perms: header[3]!, name: header[4]!.trim(), rssKiB: 0, anonymousKiB: 0 };
      mappings.push(current);
      continue;
    }
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (field && current) current[field[1] === 'Rss' ? 'rssKiB' : 'anonymousKiB'] = Number(field[2]);
  }
  return mappings;
}

function anonymousOwner(mapping: Mapping, previous: Mapping | undefined): MemoryCategory {
  if (mapping.name === '[heap]') return 'malloc main arena';
  if (mapping.name === '[stack]') return 'thread stacks';
  if (mapping.name !== '') return 'other anonymous';
  const size = mapping.end - mapping.start;
  if (mapping.perms.includes('x')) return 'V8 code range';
  if (mapping.start % ARENA_ALIGNMENT === 0 && size <= ARENA_ALIGNMENT) return 'malloc thread arenas';
  if (previous?.perms === '---p' && previous.end === mapping.start && size >= MIB && size <= 8 * MIB) return 'thread stacks';
  if (mapping.start % V8_PAGE === 0 && size % V8_PAGE === 0) return 'V8 heap pages';
  return 'other anonymous';
}

/** Resident memory by category; `binary` is the node executable's path as the process mapped it. */
export function breakDown(mappings: readonly Mapping[], binary: string): MemoryBreakdown {
  const kib = Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, 0])) as Record<MemoryCategory, number>;
  mappings.forEach((mapping, i) => {
    const fileKiB = mapping.rssKiB - mapping.anonymousKiB;
    if (mapping.name.startsWith('/')) kib[mapping.name === binary ? 'node binary (file)' : 'shared libraries (file)'] += fileKiB;
    // Anonymous pages of a file mapping: relocated data, copy-on-write .data/.bss.
    if (mapping.anonymousKiB > 0) kib[mapping.name.startsWith('/') ? 'other anonymous' : anonymousOwner(mapping, mappings[i - 1])] += mapping.anonymousKiB;
  });
  return Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, kib[c] / 1024])) as MemoryBreakdown;
}

export function readMemoryBreakdown(pid: number): MemoryBreakdown {
  const binary = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!;
  const mappings = parseSmaps(readFileSync(`/proc/${pid}/smaps`, 'utf8'));
  // The executable's own path as mapped (the command line may name it through a symlink).
  const exe = mappings.find((m) => m.perms.includes('x') && m.name.startsWith('/') && m.name.endsWith(`/${binary.split('/').pop()}`))?.name ?? binary;
  return breakDown(mappings, exe);
}

/** One column per process state, one row per category, and the totals. */
export function formatBreakdownTable(columns: ReadonlyArray<{ label: string; breakdown: MemoryBreakdown }>): string {
  const total = (b: MemoryBreakdown, filter: (c: MemoryCategory) => boolean) => MEMORY_CATEGORIES.filter(filter).reduce((sum, c) => sum + b[c], 0);
  const isFile = (c: MemoryCategory) => c.endsWith('(file)');
  const row = (name: string, pick: (b: MemoryBreakdown) => number) => `| ${name} | ${columns.map((c) => pick(c.breakdown).toFixed(1)).join(' | ')} |`;
  return [
    `| resident MiB | ${columns.map((c) => c.label).join(' | ')} |`,
    `|---|${columns.map(() => '---:').join('|')}|`,
    ...MEMORY_CATEGORIES.map((category) => row(category, (b) => b[category])),
    row('**file-backed**', (b) => total(b, isFile)),
    row('**anonymous**', (b) => total(b, (c) => !isFile(c))),
    row('**RSS**', (b) => total(b, () => true)),
  ].join('\n') + '\n';
}
