// The identity policy file, loaded at start-up and reloaded when it changes. Watches the file's
// DIRECTORY: a ConfigMap mount replaces content by swapping the `..data` symlink, which a watch on the
// file itself never sees. A bad new version is logged and the previous policy stays in force.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RegcredError, toRegcredError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseIdentityPolicy, type IdentityPolicy } from './identity-policy.ts';
import { createReloadLoop, type ReloadResult } from '../reload-loop.ts';

export type { ReloadResult };

export interface PolicySourceOptions {
  path: string;
  logger: Logger;
  /** Called after a new policy replaced the old one (re-evaluate the Secrets). */
  onChange: (policy: IdentityPolicy) => void;
  onReloadResult?: (result: ReloadResult) => void;
  /** Quiet time after the last file event before reloading; kubelet writes in bursts. Default 250 ms. */
  debounceMs?: number;
  /** A periodic re-read as well, for filesystems without reliable change events. 0 disables. Default 30 s. */
  pollIntervalMs?: number;
}

export interface PolicySource {
  current(): IdentityPolicy;
  /** Re-reads now; resolves when done, never rejects. */
  reload(): Promise<void>;
  close(): void;
}

function readPolicy(text: string): IdentityPolicy {
  return parseIdentityPolicy(text);
}

/** Loads the file (throws RegcredError ConfigInvalid: the controller must not start on a bad policy). */
export function openPolicySource(options: PolicySourceOptions): PolicySource {
  let text: string;
  try {
    text = readFileSync(options.path, 'utf8');
  } catch (err) {
    throw new RegcredError('ConfigInvalid', `identity policy ${options.path}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const { logger } = options;
  const loop = createReloadLoop({
    initial: readPolicy(text),
    async load() {
      try {
        return readPolicy(await readFile(options.path, 'utf8'));
      } catch (err) {
        throw err instanceof RegcredError ? err : new RegcredError('ConfigInvalid', `cannot read (${(err as NodeJS.ErrnoException).code ?? toRegcredError(err).code})`);
      }
    },
    onFailure(err) {
      const error = toRegcredError(err);
      logger.error({ code: error.code, reason: error.message, path: options.path }, 'identity policy reload failed; keeping the previous policy');
    },
    onSwap(next) {
      logger.info({ rules: next.rules.length, path: options.path }, 'identity policy reloaded');
      options.onChange(next);
    },
    onReloadResult: options.onReloadResult,
    debounceMs: options.debounceMs ?? 250,
    pollIntervalMs: options.pollIntervalMs ?? 30_000,
  });

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(options.path), { persistent: false }, () => loop.schedule());
    watcher.on('error', (err) => logger.warn({ reason: (err as Error).message }, 'identity policy watch failed; relying on the periodic re-read'));
  } catch (err) {
    logger.warn({ reason: (err as Error).message }, 'identity policy watch failed; relying on the periodic re-read');
  }
  return {
    current: () => loop.current(),
    reload: () => loop.reload(),
    close() {
      loop.close();
      watcher?.close();
    },
  };
}
