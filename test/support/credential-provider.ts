// The credential provider as it ships (hack/build-credential-provider.ts: the single executable), built
// once per test process into a temporary directory, and one run of it the way the kubelet runs it:
// request on stdin, response on stdout, stderr kept.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCredentialProvider, type BuiltExecutable } from '../../hack/build-credential-provider.ts';

let built: Promise<BuiltExecutable> | undefined;

/** The shipped file, in a directory of its own (usable as the kubelet's --image-credential-provider-bin-dir). */
export function shippedProvider(): Promise<BuiltExecutable> {
  built ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-provider-bin-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return buildCredentialProvider(dir);
  })();
  return built;
}

export interface ProviderRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Spawn to exit. */
  wallMs: number;
}

export function runProvider(path: string, args: readonly string[], stdin: string, env: Record<string, string> = {}): Promise<ProviderRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // Like the kubelet: the configured env on top of the node's, no shell.
    const child = spawn(path, [...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, wallMs: performance.now() - started });
    });
    child.stdin.end(stdin);
  });
}

export function providerRequest(image: string, serviceAccountToken?: string, serviceAccountAnnotations?: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'credentialprovider.kubelet.k8s.io/v1',
    kind: 'CredentialProviderRequest',
    image,
    ...(serviceAccountToken !== undefined ? { serviceAccountToken } : {}),
    ...(serviceAccountAnnotations !== undefined ? { serviceAccountAnnotations } : {}),
  });
}
