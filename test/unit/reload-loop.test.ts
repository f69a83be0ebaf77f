// The reload loop on a manual clock: a burst of file events is one reload after the quiet time, the
// periodic re-read comes every poll interval, an unchanged value is not swapped in, close() stops both.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReloadLoop, type ReloadResult } from '../../src/reload-loop.ts';
import { createManualClock } from '../support/manual-clock.ts';
import { waitFor } from '../support/wait.ts';

describe('reload loop', () => {
  it('debounces a burst of events into one reload, polls on its interval, and stops on close', async () => {
    const clock = createManualClock();
    let loads = 0;
    let fingerprint = 'a';
    const results: ReloadResult[] = [];
    const swaps: string[] = [];
    const loop = createReloadLoop({
      initial: { fingerprint: 'a' },
      load: async () => {
        loads++;
        return { fingerprint };
      },
      onFailure: () => assert.fail('no load fails here'),
      onSwap: (next) => void swaps.push(next.fingerprint),
      onReloadResult: (result) => void results.push(result),
      debounceMs: 100,
      pollIntervalMs: 10_000,
      clock,
    });
    fingerprint = 'b';
    loop.schedule();
    clock.advance(50);
    loop.schedule();
    clock.advance(99);
    assert.equal(loads, 0, 'reloaded inside the quiet time');
    clock.advance(1);
    await waitFor(() => results.length === 1, { description: 'one reload after the burst' });
    assert.deepEqual(swaps, ['b']);
    assert.equal(loop.current().fingerprint, 'b');

    clock.advance(10_000 - 150);
    await waitFor(() => results.length === 2, { description: 'the periodic re-read' });
    assert.equal(results[1], 'unchanged');
    clock.advance(10_000);
    await waitFor(() => results.length === 3, { description: 'the next periodic re-read' });

    loop.close();
    clock.advance(100_000);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(loads, 3, 'no reload after close()');
    assert.equal(clock.pending(), 0, 'close() cancelled every timer');
  });
});
