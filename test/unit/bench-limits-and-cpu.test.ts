// The bench reads the controller's memory limit off its Deployment (a Kubernetes quantity) and the CPU of
// a Node process by thread from /proc: the first from strings, the second from this very process.
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { describe, it } from 'node:test';
import { readProcessCpu, shippedMemoryLimit } from '../../bench/controller-process.ts';
import { parseMemoryQuantity } from '../../bench/memory-cgroup.ts';

describe('bench: memory quantities', () => {
  it('reads binary and decimal suffixes and plain bytes', () => {
    assert.equal(parseMemoryQuantity('256Mi'), 256 * 2 ** 20);
    assert.equal(parseMemoryQuantity('1Gi'), 2 ** 30);
    assert.equal(parseMemoryQuantity('64Ki'), 64 * 1024);
    assert.equal(parseMemoryQuantity('500M'), 500e6);
    assert.equal(parseMemoryQuantity('1048576'), 1048576);
  });

  it('refuses what it does not read rather than guessing', () => {
    assert.throws(() => parseMemoryQuantity('256MiB'), /not a memory quantity/);
    assert.throws(() => parseMemoryQuantity('1.5Gi'), /not a memory quantity/);
  });

  it('finds the shipped controller Deployment limit', () => {
    assert.equal(shippedMemoryLimit(new URL('../..', import.meta.url).pathname), 256 * 2 ** 20);
  });
});

describe('bench: CPU by thread', () => {
  it('counts the JavaScript thread apart, and never more than the whole process', () => {
    const before = readProcessCpu(process.pid);
    // Work on this thread until Node itself counts 0.3 s more CPU (a CPU figure, not a clock).
    const start = process.cpuUsage();
    while ((process.cpuUsage(start).user + process.cpuUsage(start).system) / 1e6 < 0.3) pbkdf2Sync('password', 'salt', 20_000, 32, 'sha256');
    const after = readProcessCpu(process.pid);
    assert.ok(after.main - before.main >= 0.25, `the JavaScript thread's CPU grew by ${after.main - before.main} s`);
    assert.ok(after.total >= after.main + after.v8Workers + after.libuv - 0.02, JSON.stringify(after));
  });
});
