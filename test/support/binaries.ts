// Where hack/build-kube.sh caches the Kubernetes components it builds from Go modules, under the same
// names, so a test finds exactly the binary the build made (and says how to get it when it is missing).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const KUBERNETES_VERSION = 'v1.34.4';

const ROOT = join(import.meta.dirname, '..', '..');

export function cacheDir(): string {
  return process.env.KUBE_REGCRED_CACHE ?? join(homedir(), '.cache', 'kube-regcred');
}

export type KubeComponent = 'kube-apiserver' | 'kubelet' | 'kube-controller-manager' | 'kube-scheduler';

function required(path: string, what: string, component: string): string {
  if (!existsSync(path)) {
    throw new Error(`${what} is not built at ${path}: run "bash hack/build-kube.sh ${component}" (npm test runs hack/ensure.sh, which builds it)`);
  }
  return path;
}

export function kubeBinary(component: KubeComponent): string {
  return required(join(cacheDir(), `${component}-${KUBERNETES_VERSION}`), `${component} ${KUBERNETES_VERSION}`, component);
}

/** The node's sandbox program, keyed by its source as hack/build-kube.sh keys it. */
export function pauseBinary(): string {
  const source = readFileSync(join(ROOT, 'hack', 'kube', 'cmd', 'pause', 'main.go'));
  const key = createHash('sha256').update(source).digest('hex').slice(0, 12);
  return required(join(cacheDir(), `pause-${key}`), 'the pause program', 'pause');
}
