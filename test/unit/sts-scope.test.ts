// Scope parsing, glob patterns and the intersection of requested scopes with grants (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRegcredError } from '../../src/errors.ts';
import { compileGrants, intersectAccess } from '../../src/sts/grants.ts';
import { compileGlob } from '../../src/glob.ts';
import { MAX_SCOPES, formatAccess, parseScope, parseScopes } from '../../src/sts/scope.ts';

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isRegcredError(err) && err.code === 'ScopeInvalid' && err.status === 400, 'ScopeInvalid with status 400');
    return err.message;
  }
  assert.fail('expected the scope to be refused');
}

test('parses type, name and actions; the name may hold a host:port', () => {
  assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  assert.deepEqual(parseScope('repository(plugin):x:pull').type, 'repository(plugin)');
});

test('malformed scopes are refused whole', () => {
  for (const scope of ['', 'repository', 'repository:app', 'Repository:app:pull', 'repository:App:pull', 'repository:a//b:pull', 'repository:app:PULL', 'repository:app:pull;rm', 'repository:-app:pull', 'repository:app:pull, push']) {
    refused(() => parseScope(scope));
  }
  assert.match(refused(() => parseScope(`repository:${'a'.repeat(600)}:pull`)), /longer than 512/);
  assert.match(refused(() => parseScope(`repository:${'a'.repeat(256)}:pull`)), /bad repository name/);
});

test('several scopes per value (space separated), with a hard count limit', () => {
  assert.equal(parseScopes(['repository:a:pull repository:b:push', 'repository:c:pull']).length, 3);
  const many = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:r${i}:pull`);
  refused(() => parseScopes(many));
  refused(() => parseScopes([many.join(' ')]));
  assert.equal(parseScopes(many.slice(0, MAX_SCOPES)).length, MAX_SCOPES);
  // 10,000 values are refused by count before any of them is parsed.
  refused(() => parseScopes(Array.from({ length: 10_000 }, () => 'x'.repeat(10))));
});

test('globs: * stays within a separator, ** crosses it, everything else is literal', () => {
  const repo = compileGlob('team/*', '/');
  assert.ok(repo.test('team/app'));
  assert.ok(!repo.test('team/app/sub'));
  assert.ok(!repo.test('team'), 'the separator itself is literal');
  assert.ok(!repo.test('xteam/app'));
  assert.ok(compileGlob('team/**', '/').test('team/app/sub'));
  assert.ok(!compileGlob('a.b', '/').test('axb'), 'dots are literal');
  const subject = compileGlob('system:serviceaccount:*:builder', ':');
  assert.ok(subject.test('system:serviceaccount:ci:builder'));
  assert.ok(!subject.test('system:serviceaccount:ci:x:builder'));
  assert.ok(!subject.test('system:serviceaccount:ci:builder\n'));
  assert.throws(() => compileGlob('', '/'));
  assert.throws(() => compileGlob('a/***', '/'));
});

test('intersection: denied actions dropped, ungranted repositories left out, duplicates merged', () => {
  const grants = compileGrants([
    { repository: 'ci/**', actions: ['pull', 'push'] },
    { repository: 'base/*', actions: ['pull'] },
  ]);
  const access = intersectAccess(
    parseScopes([
      'repository:ci/app:push',
      'repository:ci/app:pull',
      'repository:base/alpine:pull,push,delete,*',
      'repository:secret:pull',
      'registry:catalog:*',
    ]),
    grants,
  );
  assert.deepEqual(access, [
    { type: 'repository', name: 'ci/app', actions: ['pull', 'push'] },
    { type: 'repository', name: 'base/alpine', actions: ['pull'] },
  ]);
  assert.equal(formatAccess(access), 'repository:ci/app:pull,push repository:base/alpine:pull');
});

test('a pull-only grant never yields push', () => {
  const grants = compileGrants([{ repository: '**', actions: ['pull'] }]);
  assert.deepEqual(intersectAccess(parseScopes(['repository:x/y:push']), grants), []);
  assert.deepEqual(intersectAccess(parseScopes(['repository:x/y:push,pull']), grants), [{ type: 'repository', name: 'x/y', actions: ['pull'] }]);
});
