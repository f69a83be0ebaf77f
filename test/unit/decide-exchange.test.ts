// decide() for the tokens other writers and other STS answers leave in a Secret: pull-secret-updater's
// `auth`-only entries, and opaque (non-JWT) tokens whose expiry only the exchange cache knows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS } from '../../src/annotations.ts';
import { decide, type SecretView } from '../../src/controller/decide.ts';
import { DEFAULT_REFRESH_SCHEDULE, refreshAt } from '../../src/token/refresh-time.ts';
import { encodeAuth, serializeDockerConfig, withRegistryToken } from '../../src/dockerconfig.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import { tokenFor } from '../support/unsigned-jwt.ts';

const UID = '720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d';
const T0 = new Date('2026-11-23T09:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const settings = { defaultRegistry: 'cgr.dev', registries: ['cgr.dev'], refresh: DEFAULT_REFRESH_SCHEDULE };
const target = { identity: UID, registry: 'cgr.dev', access: 'pull' as const };

function view(dockerConfigJson: string, annotations: Record<string, string> = { [ANNOTATIONS.identityAlias]: UID }): SecretView {
  return { namespace: 'ns', name: 'pull-secret', type: 'kubernetes.io/dockerconfigjson', annotations, dockerConfigJson };
}

describe('decide: a Secret written by Chainguard pull-secret-updater', () => {
  // pull-secret-updater writes {"auths": {"cgr.dev": {"auth": base64("_token:<jwt>")}}} and nothing else.
  const token = tokenFor(T0, 3600);
  const oldSecret = view(JSON.stringify({ auths: { 'cgr.dev': { auth: encodeAuth('_token', token) } } }));
  const due = refreshAt(token, readJwtTimes(token), DEFAULT_REFRESH_SCHEDULE);

  it('is read as holding a valid token and left alone until it is due', () => {
    for (const s of [0, 60, 1200, Math.floor((due.getTime() - T0.getTime()) / 1000) - 1]) {
      assert.deepEqual(decide(oldSecret, at(s), undefined, settings), { kind: 'wait', until: due, target, expiresAt: readJwtTimes(token).expiresAt }, `at +${s}s`);
    }
  });

  it('is refreshed once due, like any Secret', () => {
    const action = decide(oldSecret, due, undefined, settings);
    assert.equal(action.kind, 'refresh');
    assert.equal(action.kind === 'refresh' && action.reason, 'expiring');
  });
});

describe('decide: an opaque registry token (STS answered with expiry)', () => {
  const opaque = 'opaque-registry-token';
  const cached = { token: opaque, expiresAt: at(600) };
  const holdingOpaque = view(serializeDockerConfig(withRegistryToken({}, 'cgr.dev', opaque)));

  it('waits when the exchange cache holds the same token and it is not due (no rewrite loop)', () => {
    const action = decide(holdingOpaque, at(10), cached, settings);
    assert.deepEqual(action, { kind: 'wait', until: refreshAt(opaque, cached, DEFAULT_REFRESH_SCHEDULE), target, expiresAt: cached.expiresAt });
  });

  it('after a restart (nothing cached) asks for one exchange: the expires-at annotation is never trusted', () => {
    const withAnnotation = view(holdingOpaque.dockerConfigJson!, { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.expiresAt]: '2099-01-01T00:00:00Z' });
    assert.deepEqual(decide(withAnnotation, at(10), undefined, settings), { kind: 'refresh', target, reason: 'unreadable' });
  });

  it('asks for an exchange when the cached copy is due', () => {
    const action = decide(holdingOpaque, at(599), cached, settings);
    assert.equal(action.kind, 'refresh');
  });
});
