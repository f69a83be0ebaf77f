// The layering of src/, checked on the imports themselves: every relative import points down a layer
// (or stays in its own folder), and no file reaches itself through imports (no cycle, at any length).
// A new folder must be placed in LAYERS before anything may import it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const SRC = resolve(import.meta.dirname, '../../src');

/**
 * Higher layers may import lower ones, never the other way, and folders of one layer not each other.
 * `.` is the leaf vocabulary in src/ itself (errors, clock, annotations, dockerconfig, ...); the
 * entry points (main.ts, credential-provider-main.ts) sit on top of everything.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['entry'],
  ['cmd'],
  ['proxy'],
  ['controller', 'sts', 'credential-provider'],
  ['exchange', 'kube', 'policy', 'http'],
  ['token'],
  ['.'],
];
const ENTRY_POINTS = new Set(['main.ts', 'credential-provider-main.ts']);

function rankOf(folder: string): number {
  const rank = LAYERS.findIndex((layer) => layer.includes(folder));
  assert.notEqual(rank, -1, `src/${folder}/ is in no layer of test/unit/import-layers.test.ts: place it there`);
  return LAYERS.length - rank;
}

/** The layer name of a file: its folder under src/, `.` for src/*.ts, `entry` for the entry points. */
function folderOf(file: string): string {
  const path = relative(SRC, file);
  const slash = path.indexOf('/');
  if (slash !== -1) return path.slice(0, slash);
  return ENTRY_POINTS.has(path) ? 'entry' : '.';
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Relative imports and re-exports, static or dynamic (`import('./x.ts')`), resolved to files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms),
    ...text.matchAll(/^\s*import\s+'(\.[^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g),
  ].map((match) => match[1]!);
  return specifiers.map((specifier) => resolve(dirname(file), specifier));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const show = (file: string) => `src/${relative(SRC, file)}`;

describe('src/ import layers', () => {
  it('finds the source files and their imports (the test reads what it checks)', () => {
    assert.ok(files.length > 50, `only ${files.length} files under src/`);
    const edges = [...graph.values()].reduce((sum, targets) => sum + targets.length, 0);
    assert.ok(edges > 200, `only ${edges} relative imports found`);
    for (const [file, targets] of graph) for (const target of targets) assert.ok(graph.has(target), `${show(file)} imports ${show(target)}, which does not exist`);
  });

  it('every import between folders points down a layer', () => {
    const upward: string[] = [];
    for (const [file, targets] of graph) {
      const from = folderOf(file);
      for (const target of targets) {
        const to = folderOf(target);
        if (from !== to && rankOf(to) >= rankOf(from)) upward.push(`${show(file)} (${from}) → ${show(target)} (${to})`);
      }
    }
    assert.deepEqual(upward, [], `imports that do not point down:\n${upward.join('\n')}`);
  });

  it('no file reaches itself through its imports (no cycle)', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const path: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'open');
      path.push(file);
      for (const target of graph.get(file) ?? []) {
        if (state.get(target) === 'open') cycles.push([...path.slice(path.indexOf(target)), target].map(show).join(' → '));
        else if (!state.has(target)) visit(target);
      }
      path.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
  });
});
