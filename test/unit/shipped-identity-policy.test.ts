// The identity policy shipped in manifests/components/push-secrets and the example in docs/controller.md
// are valid policies (the controller would refuse to start on them otherwise).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { parse } from 'yaml';
import { evaluateAccess, parseIdentityPolicy } from '../../src/policy/identity-policy.ts';

const root = join(import.meta.dirname, '..', '..');

it('the push-secrets component ConfigMap holds a valid policy', () => {
  const configMap = parse(readFileSync(join(root, 'manifests/components/push-secrets/identity-policy.yaml'), 'utf8')) as { data: Record<string, string> };
  const policy = parseIdentityPolicy(configMap.data['policy.yaml']!);
  assert.equal(evaluateAccess(policy, { identity: 'example/ci-pusher', use: 'push', namespace: 'ci-main', namespaceLabels: {} }).allowed, true);
});

it('the docs example is a valid policy', () => {
  const doc = readFileSync(join(root, 'docs/controller.md'), 'utf8');
  const example = /Point `--identity-policy`[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, 'no policy example after "Point `--identity-policy`" in docs/controller.md');
  assert.equal(parseIdentityPolicy(example).rules.length, 3);
});
