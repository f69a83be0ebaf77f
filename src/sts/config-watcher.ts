// Keeps the active snapshot in step with the configuration file and the files it references.
// Watches their directories (a ConfigMap or Secret mount replaces files by swapping a `..data`
// symlink, which a watch on the file itself never sees), debounces, rebuilds, and swaps only a
// snapshot that loaded completely: a bad new file is logged and the old configuration keeps serving.
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.ts';
import { toRegcredError } from '../errors.ts';
import type { StsConfigSnapshot } from './config-snapshot.ts';
import { createReloadLoop, type ReloadResult } from '../reload-loop.ts';

export interface ConfigWatcherOptions {
  load: () => Promise<StsConfigSnapshot>;
  /** Called with each new snapshot after it replaced the old one. */
  onSwap: (snapshot: StsConfigSnapshot) => void;
  onReloadResult?: (result: ReloadResult) => void;
  logger: Logger;
  /** Quiet time after the last file event before reloading; editors and kubelet write in bursts. */
  debounceMs?: number;
  /** A periodic check as well, for filesystems without reliable change events. 0 disables it. */
  pollIntervalMs?: number;
}

export interface ConfigWatcher {
  /** Reloads now (also what file events and the poll call). Resolves once done, never rejects. */
  reload(): Promise<void>;
  close(): void;
}

export function watchConfig(initial: StsConfigSnapshot, options: ConfigWatcherOptions): ConfigWatcher {
  let watchers = new Map<string, FSWatcher>();

  function watchDirectories(files: readonly string[]): void {
    const wanted = new Set(files.map((file) => dirname(file)));
    for (const [dir, watcher] of watchers) {
      if (!wanted.has(dir)) {
        watcher.close();
        watchers.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, () => loop.schedule());
        watcher.on('error', (err) => options.logger.warn({ dir, reason: (err as Error).message }, 'config watch failed'));
        watchers.set(dir, watcher);
      } catch (err) {
        options.logger.warn({ dir, reason: (err as Error).message }, 'config watch failed');
      }
    }
  }

  const loop = createReloadLoop({
    initial,
    load: options.load,
    onFailure(err) {
      const error = toRegcredError(err);
      options.logger.error({ code: error.code, reason: error.message }, 'configuration reload failed; keeping the previous configuration');
    },
    onSwap(next) {
      options.onSwap(next);
      watchDirectories(next.files);
      options.logger.info({ identities: next.identities.length, issuers: next.issuersByName.size }, 'configuration reloaded');
    },
    onReloadResult: options.onReloadResult,
    debounceMs: options.debounceMs ?? 250,
    pollIntervalMs: options.pollIntervalMs ?? 30_000,
  });
  watchDirectories(initial.files);

  return {
    reload: () => loop.reload(),
    close() {
      loop.close();
      for (const watcher of watchers.values()) watcher.close();
      watchers = new Map();
    },
  };
}
