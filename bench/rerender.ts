// Renders a results table again from its JSON (after a change to report.ts, without a new run):
//   npx node bench/rerender.ts bench/results/controller.json   → bench/results/controller.md
// The figures are the JSON's; only their presentation is new.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderReport, type BenchResults } from './report.ts';

const DATE_FIELDS = new Set(['earliestDueAt', 'windowEndedAt']);

if (import.meta.main) {
  const file = process.argv[2];
  if (file === undefined || !file.endsWith('.json')) {
    process.stderr.write('usage: npx node bench/rerender.ts bench/results/<name>.json\n');
    process.exit(2);
  }
  const results = JSON.parse(readFileSync(file, 'utf8'), (key, value: unknown) =>
    DATE_FIELDS.has(key) && typeof value === 'string' ? new Date(value) : value,
  ) as BenchResults;
  // Results written before these fields existed.
  results.loadedRuns ??= [];
  results.baselines ??= [];
  const out = file.replace(/\.json$/, '.md');
  writeFileSync(out, renderReport(results));
  process.stdout.write(`written to ${out}\n`);
}
