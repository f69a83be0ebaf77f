// Temporary directories of one test process, all under one root that is removed when the process
// exits: they hold CA keys, kubeconfigs with bed tokens and registry credentials, which must not
// outlive the run. KUBE_REGCRED_KEEP_TESTBED=1 keeps them, like the bed's logs, for a look afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let root: string | undefined;

export function scratchDir(prefix: string): string {
  if (root === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-test-'));
    root = dir;
    if (process.env.KUBE_REGCRED_KEEP_TESTBED !== '1') process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return mkdtempSync(join(root, prefix));
}
