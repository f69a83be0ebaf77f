// The real registry client: skopeo copies images with an authfile, as a kubelet-side client would.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratchDir } from './scratch.ts';

export interface CopyOptions {
  srcAuthfile?: string;
  destAuthfile?: string;
  timeoutMs?: number;
}

export interface CopyResult {
  ok: boolean;
  stderr: string;
}

let configDir: string | undefined;

// A private policy so the test does not depend on /etc/containers/policy.json being present, and a
// default authfile that does not exist, so no credential of the machine's user is ever picked up.
function privateConfigDir(): string {
  if (!configDir) {
    configDir = scratchDir('skopeo-');
    writeFileSync(join(configDir, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  }
  return configDir;
}

/**
 * `skopeo copy src dest` between `oci:<dir>:<tag>` and `docker://<host>/<repo>:<tag>` references.
 * TLS verification is off only because the test registry serves plain HTTP on loopback.
 */
export function skopeoCopy(src: string, dest: string, options: CopyOptions = {}): Promise<CopyResult> {
  const dir = privateConfigDir();
  const args = ['--policy', join(dir, 'policy.json'), 'copy', '--retry-times', '0'];
  if (src.startsWith('docker://')) args.push('--src-tls-verify=false');
  if (dest.startsWith('docker://')) args.push('--dest-tls-verify=false');
  if (options.srcAuthfile) args.push('--src-authfile', options.srcAuthfile);
  if (options.destAuthfile) args.push('--dest-authfile', options.destAuthfile);
  args.push(src, dest);
  return new Promise((resolve) => {
    execFile(
      'skopeo',
      args,
      { timeout: options.timeoutMs ?? 60_000, env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'no-default-auth.json') } },
      (error, _stdout, stderr) => resolve({ ok: error === null, stderr: String(stderr) }),
    );
  });
}

/** Writes a docker config with one registry credential and returns its path. */
export function writeAuthfile(dockerConfigJson: string): string {
  const file = join(scratchDir('authfile-'), 'auth.json');
  writeFileSync(file, dockerConfigJson, { mode: 0o600 });
  return file;
}

/**
 * `skopeo inspect` of a `docker://` reference on a plain-HTTP loopback registry: the manifest
 * (`raw: true`), the image config (`config: true`), or skopeo's summary (neither). Throws with
 * skopeo's stderr when it fails.
 */
export function skopeoInspect(ref: string, options: { raw?: boolean; config?: boolean; timeoutMs?: number } = {}): Promise<unknown> {
  const dir = privateConfigDir();
  const args = ['--policy', join(dir, 'policy.json'), 'inspect', '--retry-times', '0', '--tls-verify=false'];
  if (options.raw) args.push('--raw');
  if (options.config) args.push('--config');
  args.push(ref);
  return new Promise((resolve, reject) => {
    execFile(
      'skopeo',
      args,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'no-default-auth.json') } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`skopeo inspect ${ref} failed: ${String(stderr).trim() || error.message}`));
        else resolve(JSON.parse(String(stdout)));
      },
    );
  });
}
