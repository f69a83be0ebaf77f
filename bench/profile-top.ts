// Top items of a V8 CPU profile (`node --cpu-prof`): self time per function and per package/module,
// for bench/results/*.md. `node bench/profile-top.ts <file.cpuprofile> [count]`.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package under node_modules, node's own internals, or our dist/. */
export function moduleOf(url: string): string {
  if (url === '') return '(native/V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url.split('/')[0]!;
  const ours = /\/(?:dist|src|\.build-[^/]+)\/(.*)$/.exec(url);
  return ours ? ours[1]! : url;
}

export function profileTop(profile: Profile, count = 20): { functions: string[]; modules: string[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const perFunction = new Map<string, number>();
  const perModule = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const where = moduleOf(url);
    const key = `${functionName || '(anonymous)'} ${where}${url ? `:${lineNumber + 1}` : ''}`;
    perFunction.set(key, (perFunction.get(key) ?? 0) + us);
    perModule.set(where, (perModule.get(where) ?? 0) + us);
  }
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([key, us]) => `| ${key} | ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)} % |`);
  return { functions: rows(perFunction), modules: rows(perModule) };
}

if (import.meta.main) {
  const [file, count] = process.argv.slice(2);
  if (!file) throw new Error('usage: node bench/profile-top.ts <file.cpuprofile> [count]');
  const top = profileTop(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(count ?? 20));
  process.stdout.write(['| function (self time) | ms | share |', '|---|---:|---:|', ...top.functions, '', '| module (self time) | ms | share |', '|---|---:|---:|', ...top.modules, ''].join('\n'));
}
