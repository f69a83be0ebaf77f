// The one glob dialect (src/glob.ts): with a separator for sts subjects and repositories, without one
// for the identity policy's namespace names, where every run of `*` means "any characters".
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob } from '../../src/glob.ts';

describe('glob without a separator (namespace names)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['team-*', 'team-a', true],
    ['team-*', 'team-', true],
    ['team-*', 'other-team-a', false],
    ['*-prod', 'shop-prod', true],
    ['team-?', 'team-a', true],
    ['team-?', 'team-ab', false],
    ['team-**', 'team-a', true],
    ['team-***', 'team-a', true],
    ['*', 'anything', true],
    ['kube.system', 'kube-system', false],
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
  ];
  for (const [pattern, name, expected] of cases) {
    it(`${pattern} ${expected ? 'matches' : 'does not match'} ${name}`, () => {
      assert.equal(compileGlob(pattern).test(name), expected);
    });
  }
});

describe('glob with a separator (subjects, repositories)', () => {
  it('keeps `*` inside one segment, lets `**` cross, and refuses the ambiguous `***`', () => {
    assert.equal(compileGlob('ci/*', '/').test('ci/app'), true);
    assert.equal(compileGlob('ci/*', '/').test('ci/app/x'), false);
    assert.equal(compileGlob('ci/**', '/').test('ci/app/x'), true);
    assert.throws(() => compileGlob('ci/***', '/'), /ambiguous/);
  });
});
