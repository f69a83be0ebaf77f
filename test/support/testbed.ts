// The one entry point tests use for the control plane: the run's shared one when hack/run-tests.ts
// started it (KUBE_REGCRED_TESTBED names its info file), otherwise one for this test file alone.
import { readFileSync } from 'node:fs';
import { attachControlPlane, startControlPlane, type ControlPlane, type ControlPlaneInfo } from './control-plane.ts';

export type { ControlPlane, Identity } from './control-plane.ts';

export const TESTBED_ENV = 'KUBE_REGCRED_TESTBED';

let current: Promise<ControlPlane> | undefined;

export function useControlPlane(): Promise<ControlPlane> {
  current ??= (async () => {
    const infoFile = process.env[TESTBED_ENV];
    if (infoFile) {
      const info = JSON.parse(readFileSync(infoFile, 'utf8')) as ControlPlaneInfo;
      // Shared: the runner that started it stops it.
      return attachControlPlane(info, async () => undefined);
    }
    const cp = await startControlPlane();
    cp.releaseAtExit();
    return cp;
  })();
  return current;
}
