// The default log destination batches lines: a quiet process's line must still reach stdout within the
// flush interval, and nothing pending may be lost when the process exits, normally, by process.exit()
// or by an uncaught exception. Real child processes, reading their real stdout.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const logModule = fileURLToPath(new URL('../../src/log.ts', import.meta.url));

/** Runs `body` in a child with `logger` created by createLogger(); resolves with its stdout lines as they came. */
function runChild(body: string, until?: (lines: string[]) => boolean): Promise<{ lines: Array<{ msg: string }>; code: number | null }> {
  const script = `import { createLogger } from ${JSON.stringify(logModule)};\nconst logger = createLogger();\n${body}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<{ msg: string }> = [];
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      lines.push({ msg: (JSON.parse(pending.slice(0, newline)) as { msg: string }).msg });
      pending = pending.slice(newline + 1);
    }
    if (until?.(lines.map((l) => l.msg))) child.kill('SIGKILL');
  });
  // A line that never comes (a batch never flushed) fails the test instead of hanging it; generous,
  // since it bounds a child's start on a loaded machine too, not the flush.
  const timer = until === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ lines, code });
    }),
  );
}

describe('log batching', () => {
  it('writes a lone line within the flush interval while the process stays up', async () => {
    const { lines } = await runChild(`logger.info('alone'); setInterval(() => {}, 1000);`, (msgs) => msgs.includes('alone'));
    assert.deepEqual(lines.map((l) => l.msg), ['alone']);
  });

  it('writes every line of a burst, in order', async () => {
    const { lines } = await runChild(`for (let i = 0; i < 200; i++) logger.info('line ' + i); setInterval(() => {}, 1000);`, (msgs) => msgs.length === 200);
    assert.equal(lines.length, 200);
    assert.equal(lines[199]!.msg, 'line 199');
  });

  it('loses nothing pending when the process exits, by itself, by process.exit() or by an uncaught exception', async () => {
    for (const [body, code] of [
      [`logger.info('last words');`, 0],
      [`logger.info('last words'); process.exit(3);`, 3],
      [`logger.info('last words'); setTimeout(() => { throw new Error('boom'); }, 10);`, 1],
    ] as const) {
      const result = await runChild(body);
      assert.deepEqual(result.lines.map((l) => l.msg), ['last words'], body);
      assert.equal(result.code, code, body);
    }
  });

});
