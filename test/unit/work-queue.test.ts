// The keyed work queue: de-duplication, one timer per key (re-adding replaces it), never the same key
// twice at once (re-run afterwards), bounded concurrency, per-key attempt counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createWorkQueue } from '../../src/controller/queue.ts';
import { createLogger } from '../../src/log.ts';
import { createManualClock } from '../support/manual-clock.ts';
import { prng } from '../support/prng.ts';
import { waitFor } from '../support/wait.ts';

const logger = createLogger({ level: 'silent' });
// Timers come from this clock: no test here waits in real time for a timer.
const clock = createManualClock();

function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

/** One slot, held by the key `block` until `gate` is released; `seen` lists keys in the order they ran. */
function blockedQueue() {
  const seen: string[] = [];
  const gate = deferred();
  const queue = createWorkQueue({
    concurrency: 1,
    clock,
    logger,
    process: async (key) => {
      if (key === 'block') await gate.promise;
      seen.push(key);
    },
  });
  queue.add('block');
  return { queue, seen, gate };
}

describe('work queue', () => {
  it('processes a key added several times while waiting only once', async () => {
    const { queue, seen, gate } = blockedQueue();
    queue.add('a');
    queue.add('a');
    queue.add('a');
    gate.release();
    await queue.onIdle();
    assert.deepEqual(seen, ['block', 'a']);
  });

  it('runs a key that fell due by its timer before keys added by events that wait already', async () => {
    const { queue, seen, gate } = blockedQueue();
    for (const key of ['new-1', 'new-2', 'new-3']) queue.add(key);
    queue.addAt('due-past', new Date(clock.now().getTime() - 1000));
    queue.addAt('due-soon', new Date(clock.now().getTime() + 20));
    clock.advance(20);
    assert.equal(queue.scheduledAt('due-soon'), undefined, 'due-soon fell due');
    queue.add('new-4');
    gate.release();
    await queue.onIdle();
    assert.deepEqual(seen, ['block', 'due-past', 'due-soon', 'new-1', 'new-2', 'new-3', 'new-4']);
  });

  it('moves a key queued by an event up when its timer falls due while it waits', async () => {
    const { queue, seen, gate } = blockedQueue();
    queue.addAt('valid', new Date(clock.now().getTime() + 30));
    for (const key of ['hostile-1', 'hostile-2']) queue.add(key);
    queue.add('valid'); // its own write's event: queued behind the flood, its refresh timer kept
    clock.advance(30);
    assert.equal(queue.scheduledAt('valid'), undefined, 'valid fell due while waiting');
    gate.release();
    await queue.onIdle();
    assert.deepEqual(seen, ['block', 'valid', 'hostile-1', 'hostile-2']);
  });

  it('never runs one key twice at once, and runs it again when re-added while running', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const gate = deferred();
    const queue = createWorkQueue({
      concurrency: 4,
      clock,
      logger,
      process: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        if (runs === 1) await gate.promise;
        running--;
      },
    });
    queue.add('k');
    await waitFor(() => runs === 1, { description: 'first run started' });
    queue.add('k');
    queue.add('k');
    gate.release();
    await waitFor(() => runs === 2, { description: 'second run' });
    await queue.onIdle();
    assert.equal(maxRunning, 1, 'the same key ran concurrently');
    assert.equal(runs, 2, 'expected exactly one re-run after the re-adds during the run');
  });

  it('keeps one timer per key: adding again replaces it', async () => {
    const seen: string[] = [];
    const queue = createWorkQueue({ concurrency: 2, clock, logger, process: async (key) => void seen.push(key) });
    const far = new Date(clock.now().getTime() + 60_000);
    queue.addAt('k', far);
    assert.equal(queue.scheduledAt('k')?.getTime(), far.getTime());
    const near = new Date(clock.now().getTime() + 30);
    queue.addAt('k', near);
    assert.equal(queue.scheduledAt('k')?.getTime(), near.getTime(), 'the later timer was replaced');
    clock.advance(30);
    await waitFor(() => seen.length === 1, { description: 'the replaced timer fired' });
    assert.equal(queue.scheduledAt('k'), undefined);
    await queue.shutdown();
    assert.deepEqual(seen, ['k']);
  });

  it('runs a timed key when the clock reaches its instant, not before', async () => {
    const seen: string[] = [];
    const queue = createWorkQueue({ concurrency: 1, clock, logger, process: async (key) => void seen.push(key) });
    queue.addAt('k', new Date(clock.now().getTime() + 1_000));
    clock.advance(999);
    await queue.onIdle();
    assert.deepEqual(seen, [], 'ran before its instant');
    clock.advance(1);
    await waitFor(() => seen.length === 1, { description: 'the timer fired at its instant' });
    assert.equal(clock.pending(), 0);
    await queue.shutdown();
  });

  it('add() cancels the timer and runs now; forget() drops the timer', async () => {
    const seen: string[] = [];
    const queue = createWorkQueue({ concurrency: 1, clock, logger, process: async (key) => void seen.push(key) });
    queue.addAt('a', new Date(clock.now().getTime() + 60_000));
    queue.add('a');
    await queue.onIdle();
    assert.deepEqual(seen, ['a']);
    assert.equal(queue.scheduledAt('a'), undefined);
    queue.addAt('b', new Date(clock.now().getTime() + 60_000));
    queue.forget('b');
    assert.equal(queue.scheduledAt('b'), undefined);
    await queue.shutdown();
  });

  it('bounds concurrency, and is idle only when every waiting key has run', async () => {
    let running = 0;
    let maxRunning = 0;
    const done: string[] = [];
    const queue = createWorkQueue({
      concurrency: 2,
      clock,
      logger,
      process: async (key) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        done.push(key);
      },
    });
    for (let i = 0; i < 10; i++) queue.add(`k${i}`);
    await queue.onIdle();
    assert.equal(maxRunning, 2);
    assert.deepEqual(done, Array.from({ length: 10 }, (_, i) => `k${i}`));
  });

  it('runs every waiting key when the work finishes at once (no await in it)', async () => {
    const done: string[] = [];
    const queue = createWorkQueue({ concurrency: 3, clock, logger, process: async (key) => void done.push(key) });
    for (let i = 0; i < 100; i++) queue.add(`k${i}`);
    await queue.onIdle();
    assert.equal(done.length, 100);
    assert.equal(new Set(done).size, 100);
  });

  it('runs every key, one run per key at a time, under random work, re-adds and timers (seeded)', async () => {
    // A cold start's shape: thousands of keys at once, work that ends in a microtask, an immediate or a
    // nextTick, keys re-added while they run (their own write's watch event) and by timers.
    for (const seed of [1, 2, 3]) {
      const random = prng(seed);
      const pause = () => {
        const r = random();
        if (r < 0.4) return Promise.resolve();
        if (r < 0.7) return new Promise<void>((resolve) => setImmediate(resolve));
        return new Promise<void>((resolve) => process.nextTick(resolve));
      };
      const keys = 2_000;
      const due = new Set(Array.from({ length: keys }, (_, i) => `k${i}`));
      const running = new Set<string>();
      let overlapped = 0;
      let maxRunning = 0;
      const queue = createWorkQueue({
        concurrency: 4,
        clock,
        logger,
        process: async (key) => {
          if (running.has(key)) overlapped++;
          running.add(key);
          maxRunning = Math.max(maxRunning, running.size);
          const r = random();
          if (r < 0.05) queue.add(key);
          await pause();
          if (r > 0.95) queue.addAt(`k${Math.floor(random() * keys)}`, new Date(clock.now().getTime() + 1 + Math.floor(random() * 50)));
          await pause();
          running.delete(key);
          due.delete(key);
        },
      });
      for (const key of [...due]) {
        queue.add(key);
        if (random() < 0.02) queue.addAt(key, new Date(clock.now().getTime() + Math.floor(random() * 50)));
      }
      await waitFor(
        async () => {
          clock.advance(10);
          await queue.onIdle();
          return due.size === 0;
        },
        { description: `seed ${seed}: every key ran`, intervalMs: 1, timeoutMs: 10_000 },
      );
      assert.equal(overlapped, 0, `seed ${seed}: no key ran twice at once`);
      assert.ok(maxRunning <= 4, `seed ${seed}: at most 4 at once (${maxRunning})`);
      await queue.shutdown();
    }
  });

  it('counts failures per key and resets them on success', async () => {
    const queue = createWorkQueue({ concurrency: 1, clock, logger, process: async () => undefined });
    assert.equal(queue.recordFailure('a'), 1);
    assert.equal(queue.recordFailure('a'), 2);
    assert.equal(queue.recordFailure('b'), 1);
    queue.recordSuccess('a');
    assert.equal(queue.recordFailure('a'), 1);
    await queue.shutdown();
  });

  it('shutdown drops timers and waiting keys and waits for running work', async () => {
    const gate = deferred();
    const seen: string[] = [];
    let finished = false;
    const queue = createWorkQueue({
      concurrency: 1,
      clock,
      logger,
      process: async (key) => {
        seen.push(key);
        if (key === 'running') {
          await gate.promise;
          finished = true;
        }
      },
    });
    queue.add('running');
    queue.add('waiting');
    queue.addAt('timed', new Date(clock.now().getTime() + 20));
    await waitFor(() => seen.length === 1, { description: 'first key running' });
    const stopped = queue.shutdown();
    gate.release();
    await stopped;
    assert.equal(finished, true, 'shutdown resolved before the running key finished');
    queue.add('after');
    clock.advance(40);
    await queue.onIdle();
    assert.deepEqual(seen, ['running'], 'nothing else ran after shutdown');
  });
});
