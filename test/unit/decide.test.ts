import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS } from '../../src/annotations.ts';
import { decide, type Action, type SecretView } from '../../src/controller/decide.ts';
import { DEFAULT_REFRESH_SCHEDULE, refreshAt } from '../../src/token/refresh-time.ts';
import { encodeAuth, serializeDockerConfig, withRegistryToken } from '../../src/dockerconfig.ts';
import type { RegistryToken } from '../../src/exchange/exchanger.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { tokenFor } from '../support/unsigned-jwt.ts';

const UID = '720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d';
const T0 = new Date('2026-11-23T09:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const settings = { defaultRegistry: 'cgr.dev', registries: ['cgr.dev', 'registry.example:5000'], refresh: DEFAULT_REFRESH_SCHEDULE };
const target = { identity: UID, registry: 'cgr.dev', access: 'pull' as const };

function secret(overrides: Partial<SecretView> = {}): SecretView {
  return {
    namespace: 'ns',
    name: 'pull-secret',
    type: 'kubernetes.io/dockerconfigjson',
    annotations: { [ANNOTATIONS.identity]: UID },
    dockerConfigJson: '{}',
    ...overrides,
  };
}

function holding(token: string, registry = 'cgr.dev', extra: Partial<SecretView> = {}): SecretView {
  return secret({ dockerConfigJson: serializeDockerConfig(withRegistryToken({}, registry, token)), ...extra });
}

function registryToken(token: string): RegistryToken {
  return { token, ...readJwtTimes(token) };
}

const dueOf = (token: string) => refreshAt(token, readJwtTimes(token), DEFAULT_REFRESH_SCHEDULE);

describe('decide: which Secrets are ours', () => {
  it('ignores a Secret of another type', () => {
    assert.deepEqual(decide(secret({ type: 'Opaque' }), T0, undefined, settings), { kind: 'ignore' });
  });

  it('ignores a Secret without an identity annotation', () => {
    assert.deepEqual(decide(secret({ annotations: { [ANNOTATIONS.registry]: 'cgr.dev' } }), T0, undefined, settings), {
      kind: 'ignore',
    });
  });

  it('manages a Secret with the Chainguard alias annotation', () => {
    const action = decide(secret({ annotations: { [ANNOTATIONS.identityAlias]: UID } }), T0, undefined, settings);
    assert.deepEqual(action, { kind: 'refresh', target, reason: 'missing' });
  });
});

describe('decide: permanent input problems are rejected', () => {
  const cases: Array<[string, Partial<SecretView>, string]> = [
    ['an empty identity', { annotations: { [ANNOTATIONS.identity]: '' } }, 'IdentityInvalid'],
    ['a malformed alias identity', { annotations: { [ANNOTATIONS.identityAlias]: 'not a uid' } }, 'IdentityInvalid'],
    ['a registry that is not host[:port]', { annotations: { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'https://x' } }, 'RegistryInvalid'],
    ['a registry not configured', { annotations: { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'ghcr.io' } }, 'RegistryNotConfigured'],
    ['an unparsable .dockerconfigjson', { dockerConfigJson: '{"auths":' }, 'DockerConfigInvalid'],
    ['a .dockerconfigjson whose auths is a list', { dockerConfigJson: '{"auths":[]}' }, 'DockerConfigInvalid'],
  ];
  for (const [name, overrides, code] of cases) {
    it(`rejects ${name} with ${code}`, () => {
      const action = decide(secret(overrides), T0, undefined, settings);
      assert.equal(action.kind, 'reject', `expected reject, got ${JSON.stringify(action)}`);
      assert.equal(action.kind === 'reject' && action.error.code, code);
    });
  }
});

describe('decide: refresh when the Secret has no good token', () => {
  const fresh = tokenFor(T0, 3600);
  const cases: Array<[string, SecretView, Date, Action]> = [
    ['empty config', secret(), T0, { kind: 'refresh', target, reason: 'missing' }],
    ['no .dockerconfigjson key', secret({ dockerConfigJson: undefined }), T0, { kind: 'refresh', target, reason: 'missing' }],
    ['a token for another registry only', holding(fresh, 'ghcr.io'), T0, { kind: 'refresh', target, reason: 'missing' }],
    [
      'someone else’s credential for the registry',
      secret({ dockerConfigJson: JSON.stringify({ auths: { 'cgr.dev': { username: 'robot', password: 'p', auth: encodeAuth('robot', 'p') } } }) }),
      T0,
      { kind: 'refresh', target, reason: 'unreadable' },
    ],
    ['a token that is not a JWT', holding('opaque-token'), T0, { kind: 'refresh', target, reason: 'unreadable' }],
    ['a token past its refresh instant', holding(fresh), at(3000), { kind: 'refresh', target, reason: 'expiring', currentExpiresAt: at(3600) }],
    ['a token past its exp', holding(fresh), at(3600), { kind: 'refresh', target, reason: 'expired', currentExpiresAt: at(3600) }],
  ];
  for (const [name, view, now, expected] of cases) {
    it(`asks for an exchange for ${name} (${expected.kind === 'refresh' ? expected.reason : ''})`, () => {
      assert.deepEqual(decide(view, now, undefined, settings), expected);
    });
  }
});

describe('decide: a Secret with a good token is left alone', () => {
  it('waits until the refresh instant of the token it holds', () => {
    const token = tokenFor(T0, 3600);
    assert.deepEqual(decide(holding(token), at(60), undefined, settings), {
      kind: 'wait',
      until: dueOf(token),
      target,
      expiresAt: at(3600),
    });
  });

  it('after a restart (nothing cached), a Secret the controller wrote earlier yields wait at every instant before its refresh time', () => {
    const token = tokenFor(T0, 3600);
    const due = dueOf(token).getTime();
    for (let s = 0; at(s).getTime() < due; s += 97) {
      const action = decide(holding(token), at(s), undefined, settings);
      assert.equal(action.kind, 'wait', `at +${s} s: expected wait, got ${action.kind}`);
    }
  });

  it('keeps other registries’ entries out of the decision', () => {
    const token = tokenFor(T0, 3600);
    const config = withRegistryToken({ auths: { 'ghcr.io': { auth: encodeAuth('robot', 'x') } } }, 'cgr.dev', token);
    assert.equal(decide(secret({ dockerConfigJson: JSON.stringify(config) }), at(60), undefined, settings).kind, 'wait');
  });
});

describe('decide: the exchange cache', () => {
  // There is no separate "write the cached token" action: refresh asks TokenCache.get, which hands over
  // a cached token that is not yet due without an exchange (token-cache.test.ts asserts that).
  it('asks for a new token for an expiring Secret even when the cache holds a fresher one (get() returns it, no exchange)', () => {
    const old = tokenFor(T0, 3600);
    const newer = registryToken(tokenFor(at(3000), 3600));
    assert.deepEqual(decide(holding(old), at(3000), newer, settings), {
      kind: 'refresh',
      target,
      reason: 'expiring',
      currentExpiresAt: at(3600),
    });
  });

  it('asks for a token for an empty Secret whatever the cache holds', () => {
    const cached = registryToken(tokenFor(T0, 3600));
    assert.deepEqual(decide(secret(), at(10), cached, settings), { kind: 'refresh', target, reason: 'missing' });
  });

  it('asks for an exchange when the cached token is itself due', () => {
    const cached = registryToken(tokenFor(T0, 3600));
    const action = decide(secret(), at(3500), cached, settings);
    assert.deepEqual(action, { kind: 'refresh', target, reason: 'missing' });
  });

  it('ignores the cache while the Secret’s own token is good', () => {
    const token = tokenFor(T0, 3600);
    const newer = registryToken(tokenFor(at(100), 3600));
    assert.equal(decide(holding(token), at(100), newer, settings).kind, 'wait');
  });

  it('asks to refresh a Secret holding the cached token only once that token is due (hot-loop property), at any instant of its life', () => {
    for (const lifetime of [20, 120, 600, 3600, 43_200]) {
      for (let i = 0; i < 5; i += 1) {
        const token = tokenFor(T0, lifetime);
        const cached = registryToken(token);
        const due = refreshAt(token, cached, DEFAULT_REFRESH_SCHEDULE).getTime();
        for (let step = 0; step <= 60; step += 1) {
          const now = at((lifetime * 1.2 * step) / 60);
          const action = decide(holding(token), now, cached, settings);
          // Before its refresh instant the cache would hand this very token back: decide must wait.
          assert.equal(action.kind, now.getTime() < due ? 'wait' : 'refresh', `lifetime ${lifetime} s at ${now.toISOString()}: ${action.kind}`);
        }
      }
    }
  });
});

describe('decide: status annotations are not trusted', () => {
  const lies: Array<[string, Record<string, string>]> = [
    ['expires-at far in the future', { [ANNOTATIONS.expiresAt]: '2099-01-01T00:00:00Z' }],
    ['expires-at in the past', { [ANNOTATIONS.expiresAt]: '2000-01-01T00:00:00Z' }],
    ['refreshed-at just now', { [ANNOTATIONS.refreshedAt]: T0.toISOString() }],
    ['a last-error', { [ANNOTATIONS.lastError]: 'StsForbidden: STS answered 403' }],
    ['garbage in every status annotation', { [ANNOTATIONS.expiresAt]: 'soon', [ANNOTATIONS.refreshedAt]: '?', [ANNOTATIONS.lastError]: '' }],
  ];
  const token = tokenFor(T0, 3600);
  const views: Array<[string, SecretView, Date]> = [
    ['an empty Secret', secret(), at(10)],
    ['a Secret with a good token', holding(token), at(10)],
    ['a Secret with an expiring token', holding(token), at(3000)],
    ['a Secret with an expired token', holding(token), at(4000)],
  ];
  for (const [lieName, lie] of lies) {
    for (const [viewName, view, now] of views) {
      it(`decides the same for ${viewName} with ${lieName}`, () => {
        const honest = decide(view, now, undefined, settings);
        const lied = decide({ ...view, annotations: { ...view.annotations, ...lie } }, now, undefined, settings);
        assert.deepEqual(lied, honest);
      });
    }
  }
});
