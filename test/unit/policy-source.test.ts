// The identity policy file on a real filesystem: reloaded on change, including the ConfigMap-style
// `..data` symlink swap; a bad new version is logged and the previous policy kept.
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { evaluateAccess } from '../../src/policy/identity-policy.ts';
import { openPolicySource, type ReloadResult } from '../../src/policy/policy-source.ts';
import { waitFor } from '../support/wait.ts';
import { captureLogs } from './sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const allows = (namespace: string) => `identities: [{uid: id, namespaces: [${namespace}]}]\n`;

function isAllowed(source: { current(): ReturnType<typeof import('../../src/policy/identity-policy.ts').parseIdentityPolicy> }, namespace: string): boolean {
  return evaluateAccess(source.current(), { identity: 'id', use: 'pull', namespace, namespaceLabels: {} }).allowed;
}

describe('identity policy source', () => {
  it('reloads a plainly rewritten file and keeps the old policy when the new one is bad', async () => {
    const dir = scratchDir('policy-');
    const path = join(dir, 'policy.yaml');
    writeFileSync(path, allows('a'));
    const logs = captureLogs();
    const results: ReloadResult[] = [];
    let changes = 0;
    const source = openPolicySource({
      path,
      logger: createLogger({ level: 'debug', destination: logs.stream }),
      onChange: () => changes++,
      onReloadResult: (r) => results.push(r),
      debounceMs: 20,
      pollIntervalMs: 0,
    });
    try {
      assert.equal(isAllowed(source, 'a'), true);
      writeFileSync(path, allows('b'));
      await waitFor(() => isAllowed(source, 'b'), { description: 'policy reloaded after a write', timeoutMs: 5_000 });
      assert.equal(isAllowed(source, 'a'), false);
      assert.equal(changes, 1);

      writeFileSync(path, 'identities: [{uid: id}]\n');
      await waitFor(() => results.includes('failure'), { description: 'the bad file refused', timeoutMs: 5_000 });
      assert.equal(isAllowed(source, 'b'), true, 'the previous policy is still in force');
      assert.equal(changes, 1);
      assert.ok(logs.lines.some((l) => l.includes('keeping the previous policy') && l.includes('"code":"ConfigInvalid"')));
    } finally {
      source.close();
    }
  });

  it('follows a ConfigMap-style ..data symlink swap', async () => {
    const dir = scratchDir('policy-cm-');
    // What kubelet lays out: ..<timestamp>/policy.yaml, ..data -> ..<timestamp>, policy.yaml -> ..data/policy.yaml
    const version = (name: string, text: string) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'policy.yaml'), text);
    };
    version('..v1', allows('one'));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/policy.yaml', join(dir, 'policy.yaml'));
    const source = openPolicySource({
      path: join(dir, 'policy.yaml'),
      logger: createLogger({ level: 'fatal' }),
      onChange: () => undefined,
      debounceMs: 20,
      pollIntervalMs: 0,
    });
    try {
      assert.equal(isAllowed(source, 'one'), true);
      version('..v2', allows('two'));
      symlinkSync('..v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // atomic swap, as kubelet does
      await waitFor(() => isAllowed(source, 'two'), { description: 'policy reloaded after the ..data swap', timeoutMs: 5_000 });
    } finally {
      source.close();
    }
  });

  it('refuses to start on an unreadable or invalid file', () => {
    const dir = scratchDir('policy-bad-');
    assert.throws(() => openPolicySource({ path: join(dir, 'missing.yaml'), logger: createLogger({ level: 'fatal' }), onChange: () => undefined }), /cannot read \(ENOENT\)/);
    writeFileSync(join(dir, 'bad.yaml'), 'identities: 3');
    assert.throws(() => openPolicySource({ path: join(dir, 'bad.yaml'), logger: createLogger({ level: 'fatal' }), onChange: () => undefined }), /identities: required/);
  });
});
