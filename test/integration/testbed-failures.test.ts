// A component that cannot start must say which one it is and why, with the tail of its own log.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import { ComponentStartError, startComponent } from '../support/process.ts';
import { scratchDir } from '../support/scratch.ts';

it('names the component and shows its log tail when it exits during start-up', async () => {
  const logFile = join(scratchDir('bed-fail-'), 'etcd.log');
  const failure = await startComponent({
    name: 'etcd',
    command: 'etcd',
    args: ['--no-such-flag-for-the-test'],
    logFile,
    ready: async () => false,
    startTimeoutMs: 20_000,
  }).then(
    () => assert.fail('etcd with an unknown flag must not start'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof ComponentStartError, `expected a ComponentStartError, got ${String(failure)}`);
  assert.match(failure.message, /^etcd did not start: exited with code \d+/);
  assert.match(failure.message, /no-such-flag-for-the-test/, 'the log tail (etcd naming the bad flag) is part of the message');
});

it('names the component when it never becomes ready, and stops it', async () => {
  const logFile = join(scratchDir('bed-fail-'), 'sleeper.log');
  await assert.rejects(
    startComponent({
      name: 'registry',
      command: 'sleep',
      args: ['600'],
      logFile,
      ready: async () => false,
      startTimeoutMs: 500,
    }),
    (err: unknown) => err instanceof ComponentStartError && /^registry did not start: not ready after 500 ms/.test(err.message),
  );
});
