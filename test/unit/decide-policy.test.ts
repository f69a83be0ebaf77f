// decide() with the identity policy, push secrets and the token-for record (pure).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS, formatTokenFor } from '../../src/annotations.ts';
import { decide, type SecretView } from '../../src/controller/decide.ts';
import { DEFAULT_REFRESH_SCHEDULE } from '../../src/token/refresh-time.ts';
import { serializeDockerConfig, withRegistryToken } from '../../src/dockerconfig.ts';
import { parseIdentityPolicy } from '../../src/policy/identity-policy.ts';
import { tokenFor } from '../support/unsigned-jwt.ts';

const T0 = new Date('2026-11-23T09:00:00Z');
const policy = parseIdentityPolicy(`
identities:
  - { uid: puller, uses: [pull], namespaces: [team-a] }
  - { uid: other-puller, uses: [pull], namespaces: [team-a] }
  - { uid: pusher, uses: [push], namespaceSelector: { matchLabels: { builds: allowed } } }
`);
const settings = { defaultRegistry: 'cgr.dev', registries: ['cgr.dev', 'reg.example'], refresh: DEFAULT_REFRESH_SCHEDULE, policy };
const fresh = tokenFor(T0, 3600);

function view(overrides: Partial<SecretView> & { identity?: string; extra?: Record<string, string> } = {}): SecretView {
  const { identity = 'puller', extra = {}, ...rest } = overrides;
  return {
    namespace: 'team-a',
    name: 'pull-secret',
    type: 'kubernetes.io/dockerconfigjson',
    annotations: { [ANNOTATIONS.identity]: identity, ...extra },
    dockerConfigJson: '{}',
    namespaceLabels: {},
    ...rest,
  };
}
const holding = (token: string, registry = 'cgr.dev') => serializeDockerConfig(withRegistryToken({ auths: { 'x.example': { auth: 'eDp5' } } }, registry, token));

describe('decide with an identity policy', () => {
  it('serves a namespace the policy allows', () => {
    assert.equal(decide(view(), T0, undefined, settings).kind, 'refresh');
  });

  it('refuses a namespace outside the policy with NamespaceNotAllowed, exchanging nothing', () => {
    const action = decide(view({ namespace: 'team-b' }), T0, undefined, settings);
    assert.equal(action.kind, 'reject');
    assert.equal(action.kind === 'reject' && action.error.code, 'NamespaceNotAllowed');
    assert.equal(action.kind === 'reject' && action.revoke, undefined, 'nothing of ours to remove');
  });

  it('revokes our token (and only ours) when a Secret lost its permission', () => {
    const action = decide(view({ namespace: 'team-b', dockerConfigJson: holding(fresh) }), T0, undefined, settings);
    assert.deepEqual(action.kind === 'reject' && action.revoke, 'cgr.dev');
    const foreign = JSON.stringify({ auths: { 'cgr.dev': { username: 'robot', password: 'x' } } });
    const keep = decide(view({ namespace: 'team-b', dockerConfigJson: foreign }), T0, undefined, settings);
    assert.equal(keep.kind === 'reject' && keep.revoke, undefined, "someone else's credential is left alone");
  });

  it('matches selectors against the namespace labels it is given', () => {
    const push = { type: 'Opaque', identity: 'pusher', extra: { [ANNOTATIONS.access]: 'push' } };
    assert.equal(decide(view({ ...push, namespaceLabels: { builds: 'allowed' } }), T0, undefined, settings).kind, 'refresh');
    assert.equal(decide(view({ ...push, namespaceLabels: {} }), T0, undefined, settings).kind, 'reject');
    assert.equal(decide(view({ ...push, namespaceLabels: undefined }), T0, undefined, settings).kind, 'reject');
  });
});

describe('decide for push secrets', () => {
  it('ignores Opaque Secrets that are not push secrets', () => {
    assert.deepEqual(decide(view({ type: 'Opaque' }), T0, undefined, settings), { kind: 'ignore' });
  });

  it('refuses access: push on a dockerconfigjson Secret (push rights must never reach kubelet)', () => {
    const action = decide(view({ identity: 'pusher', extra: { [ANNOTATIONS.access]: 'push' }, namespaceLabels: { builds: 'allowed' } }), T0, undefined, settings);
    assert.equal(action.kind === 'reject' && action.error.code, 'AccessInvalid');
  });

  it('refuses a pull identity in a push secret and a bad access value', () => {
    const pushWithPuller = decide(view({ type: 'Opaque', extra: { [ANNOTATIONS.access]: 'push' } }), T0, undefined, settings);
    assert.equal(pushWithPuller.kind === 'reject' && pushWithPuller.error.code, 'NamespaceNotAllowed');
    const bad = decide(view({ extra: { [ANNOTATIONS.access]: 'admin' } }), T0, undefined, settings);
    assert.equal(bad.kind === 'reject' && bad.error.code, 'AccessInvalid');
  });

  it('refuses push without a policy file', () => {
    const action = decide(view({ type: 'Opaque', identity: 'pusher', extra: { [ANNOTATIONS.access]: 'push' } }), T0, undefined, { ...settings, policy: undefined });
    assert.equal(action.kind === 'reject' && action.error.code, 'NamespaceNotAllowed');
  });
});

describe('decide with the token-for record', () => {
  const target = { identity: 'puller', registry: 'cgr.dev', access: 'pull' as const };

  it('waits when the good token was issued for the target asked for (or when nothing is recorded)', () => {
    const recorded = view({ dockerConfigJson: holding(fresh), extra: { [ANNOTATIONS.tokenFor]: formatTokenFor(target) } });
    assert.equal(decide(recorded, T0, undefined, settings).kind, 'wait');
    assert.equal(decide(view({ dockerConfigJson: holding(fresh) }), T0, undefined, settings).kind, 'wait');
  });

  it('refreshes at once when the identity changed under a good token', () => {
    const changed = view({
      identity: 'other-puller',
      dockerConfigJson: holding(fresh),
      extra: { [ANNOTATIONS.tokenFor]: formatTokenFor(target) },
    });
    const action = decide(changed, T0, undefined, settings);
    assert.equal(action.kind, 'refresh');
    assert.equal(action.kind === 'refresh' && action.reason, 'retargeted');
  });

  it('never skips a due refresh because of what token-for says', () => {
    const old = tokenFor(new Date(T0.getTime() - 3500_000), 3600);
    const action = decide(view({ dockerConfigJson: holding(old), extra: { [ANNOTATIONS.tokenFor]: formatTokenFor(target) } }), T0, undefined, settings);
    assert.equal(action.kind, 'refresh');
  });
});

describe('decide with service-account and attach-to annotations', () => {
  it('carries the workload ServiceAccount in the target and in token-for', () => {
    const action = decide(view({ extra: { [ANNOTATIONS.serviceAccount]: 'builder' } }), T0, undefined, settings);
    assert.equal(action.kind === 'refresh' && action.target.serviceAccount, 'builder');
    assert.equal(
      formatTokenFor({ identity: 'puller', registry: 'cgr.dev', access: 'pull', serviceAccount: 'builder' }),
      'identity=puller,registry=cgr.dev,service-account=builder',
    );
  });

  it('refuses invalid ServiceAccount names', () => {
    const cases: Record<string, string>[] = [{ [ANNOTATIONS.serviceAccount]: 'Builder' }, { [ANNOTATIONS.attachTo]: 'app,,bad_name' }, { [ANNOTATIONS.attachTo]: ' , ' }];
    for (const extra of cases) {
      const action = decide(view({ extra }), T0, undefined, settings);
      assert.equal(action.kind === 'reject' && action.error.code, 'ServiceAccountInvalid', JSON.stringify(extra));
    }
  });

  it('never attaches a push secret to a ServiceAccount', () => {
    const push = view({ type: 'Opaque', identity: 'pusher', namespaceLabels: { builds: 'allowed' }, extra: { [ANNOTATIONS.access]: 'push', [ANNOTATIONS.attachTo]: 'default' } });
    const action = decide(push, T0, undefined, settings);
    assert.equal(action.kind === 'reject' && action.error.code, 'AccessInvalid');
  });
});
