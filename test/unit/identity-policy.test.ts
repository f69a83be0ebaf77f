// The identity policy, pure: Kubernetes label-selector semantics, the file's validation, and who may use
// which identity for what.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegcredError } from '../../src/errors.ts';
import { evaluateAccess, parseIdentityPolicy, type AccessRequest } from '../../src/policy/identity-policy.ts';
import { matchesLabelSelector, validateLabelSelector, type LabelSelector } from '../../src/policy/label-selector.ts';

describe('label selectors (Kubernetes semantics)', () => {
  const cases: Array<[string, LabelSelector, Record<string, string>, boolean]> = [
    ['empty selector matches everything', {}, {}, true],
    ['matchLabels equal', { matchLabels: { team: 'a' } }, { team: 'a', x: 'y' }, true],
    ['matchLabels different value', { matchLabels: { team: 'a' } }, { team: 'b' }, false],
    ['matchLabels missing key', { matchLabels: { team: 'a' } }, {}, false],
    ['In with the value', { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'prod'] }] }, { env: 'prod' }, true],
    ['In without the key', { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] }, {}, false],
    ['NotIn without the key matches', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, {}, true],
    ['NotIn with a listed value', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, { env: 'prod' }, false],
    ['Exists', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, { team: '' }, true],
    ['Exists, missing', { matchExpressions: [{ key: 'team', operator: 'Exists' }] }, {}, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'quarantine', operator: 'DoesNotExist' }] }, { team: 'a' }, true],
    ['DoesNotExist, present', { matchExpressions: [{ key: 'quarantine', operator: 'DoesNotExist' }] }, { quarantine: 'yes' }, false],
    [
      'matchLabels AND matchExpressions',
      { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] },
      { team: 'a', env: 'dev' },
      false,
    ],
  ];
  for (const [name, selector, labels, expected] of cases) {
    it(name, () => assert.equal(matchesLabelSelector(selector, labels), expected));
  }

  it('rejects what the apiserver rejects', () => {
    for (const [raw, fragment] of [
      [{ matchExpressions: [{ key: 'a', operator: 'In' }] }, 'In needs at least one value'],
      [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, 'Exists takes no values'],
      [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }, 'operator: must be one of'],
      [{ matchLabels: { a: 1 } }, 'must be a string'],
      [{ labels: {} }, 'unknown field'],
    ] as const) {
      const problems: string[] = [];
      validateLabelSelector(raw, 'sel', problems);
      assert.ok(problems.some((p) => p.includes(fragment)), `expected a problem containing "${fragment}", got ${JSON.stringify(problems)}`);
    }
  });
});

const POLICY = `
identities:
  - uid: team-a/puller
    uses: [pull]
    namespaces: [team-a, "team-a-*"]
  - uid: shared/puller
    namespaceSelector:
      matchLabels: { registry-access: shared }
      matchExpressions:
        - { key: quarantine, operator: DoesNotExist }
  - uid: ci/pusher
    uses: [push]
    namespaces: [ci]
    namespaceSelector:
      matchLabels: { builds: allowed }
`;

function request(overrides: Partial<AccessRequest>): AccessRequest {
  return { identity: 'team-a/puller', use: 'pull', namespace: 'team-a', namespaceLabels: {}, ...overrides };
}

function deniedCode(decision: ReturnType<typeof evaluateAccess>): string | undefined {
  return decision.allowed ? undefined : decision.error.code;
}

describe('identity policy evaluation', () => {
  const policy = parseIdentityPolicy(POLICY);

  it('allows a listed namespace and a glob match, refuses others', () => {
    assert.equal(evaluateAccess(policy, request({})).allowed, true);
    assert.equal(evaluateAccess(policy, request({ namespace: 'team-a-dev' })).allowed, true);
    assert.equal(deniedCode(evaluateAccess(policy, request({ namespace: 'team-b' }))), 'NamespaceNotAllowed');
    // Anchored: a namespace merely containing the name does not match.
    assert.equal(evaluateAccess(policy, request({ namespace: 'x-team-a' })).allowed, false);
  });

  it('matches namespace labels with the selector; unknown labels match nothing', () => {
    const shared = { identity: 'shared/puller', namespace: 'anything' };
    assert.equal(evaluateAccess(policy, request({ ...shared, namespaceLabels: { 'registry-access': 'shared' } })).allowed, true);
    assert.equal(evaluateAccess(policy, request({ ...shared, namespaceLabels: { 'registry-access': 'shared', quarantine: 'y' } })).allowed, false);
    assert.equal(evaluateAccess(policy, request({ ...shared, namespaceLabels: {} })).allowed, false);
    assert.equal(evaluateAccess(policy, request({ ...shared, namespaceLabels: undefined })).allowed, false);
  });

  it('requires both names and selector when an entry sets both', () => {
    const push = { identity: 'ci/pusher', use: 'push' as const };
    assert.equal(evaluateAccess(policy, request({ ...push, namespace: 'ci', namespaceLabels: { builds: 'allowed' } })).allowed, true);
    assert.equal(evaluateAccess(policy, request({ ...push, namespace: 'ci', namespaceLabels: {} })).allowed, false);
    assert.equal(evaluateAccess(policy, request({ ...push, namespace: 'other', namespaceLabels: { builds: 'allowed' } })).allowed, false);
  });

  it('keeps uses apart: a pull identity cannot push, a push identity cannot pull', () => {
    const pushWithPuller = evaluateAccess(policy, request({ use: 'push' }));
    assert.equal(deniedCode(pushWithPuller), 'NamespaceNotAllowed');
    assert.match((pushWithPuller as { error: RegcredError }).error.message, /may not be used to push/);
    const pullWithPusher = evaluateAccess(policy, request({ identity: 'ci/pusher', namespace: 'ci', namespaceLabels: { builds: 'allowed' } }));
    assert.equal(pullWithPusher.allowed, false);
  });

  it('refuses an identity the policy does not name', () => {
    const decision = evaluateAccess(policy, request({ identity: 'someone/else' }));
    assert.match((decision as { error: RegcredError }).error.message, /not in the identity policy/);
  });

  it('without a policy: pull anywhere (Chainguard behaviour), push nowhere', () => {
    assert.equal(evaluateAccess(undefined, request({ identity: 'x', namespace: 'y' })).allowed, true);
    assert.equal(deniedCode(evaluateAccess(undefined, request({ identity: 'x', use: 'push' }))), 'NamespaceNotAllowed');
  });
});

describe('identity policy file', () => {
  const invalid: Array<[string, string, string]> = [
    ['not YAML', 'identities: [', 'not valid YAML'],
    ['no identities list', 'rules: []', 'identities: required'],
    ['an entry without namespaces or selector', 'identities: [{uid: a}]', 'set namespaces, namespaceSelector or both'],
    ['an unknown use', 'identities: [{uid: a, uses: [delete], namespaces: [x]}]', 'uses: a non-empty list of pull, push'],
    ['an unknown field', 'identities: [{uid: a, namespaces: [x], namespace: y}]', 'namespace: unknown field'],
    ['one UID for pull and push', 'identities: [{uid: a, uses: [pull], namespaces: [x]}, {uid: a, uses: [push], namespaces: [y]}]', 'both pull and push'],
    ['a bad selector', 'identities: [{uid: a, namespaceSelector: {matchExpressions: [{key: k, operator: In}]}}]', 'In needs at least one value'],
  ];
  for (const [name, text, fragment] of invalid) {
    it(`refuses ${name} with ConfigInvalid naming the problem`, () => {
      assert.throws(
        () => parseIdentityPolicy(text),
        (err: unknown) => err instanceof RegcredError && err.code === 'ConfigInvalid' && err.message.includes(fragment),
      );
    });
  }

  it('defaults uses to pull and fingerprints the content', () => {
    const a = parseIdentityPolicy('identities: [{uid: a, namespaces: ["*"]}]');
    assert.deepEqual(a.rules[0]!.uses, ['pull']);
    assert.equal(evaluateAccess(a, request({ identity: 'a', namespace: 'whatever' })).allowed, true);
    assert.equal(parseIdentityPolicy('identities: [{uid: a, namespaces: ["*"]}]').fingerprint, a.fingerprint);
    assert.notEqual(parseIdentityPolicy('identities: [{uid: b, namespaces: ["*"]}]').fingerprint, a.fingerprint);
  });
});
