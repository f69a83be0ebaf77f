// The CLI as the image runs it: `npm run build`'s dist/main.js (hack/build.ts), not src/main.ts, so the
// tests that start `kube-regcred` as a process run the production build. hack/run-tests.ts builds it
// once per run and names it in KUBE_REGCRED_CLI; a test file run on its own builds its own copy.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildMain } from '../../hack/build.ts';

export const CLI_ENV = 'KUBE_REGCRED_CLI';
const ROOT = join(import.meta.dirname, '..', '..');

let built: Promise<string> | undefined;

/** The path of the built main.js. */
export function builtCli(): Promise<string> {
  const given = process.env[CLI_ENV];
  if (given) return Promise.resolve(given);
  built ??= (async () => {
    const dir = mkdtempSync(join(ROOT, '.build-cli-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return buildMain(dir);
  })();
  return built;
}
