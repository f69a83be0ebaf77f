import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ANNOTATIONS,
  formatInstant,
  formatLastError,
  formatStatus,
  isManaged,
  parseTarget,
} from '../../src/annotations.ts';
import { RegcredError, type ErrorCode } from '../../src/errors.ts';

const UID = '720909c9f5279097d847ad02a2f24ba8f59de36a/a033a6fabe0bfa0d';
const settings = { defaultRegistry: 'cgr.dev', registries: ['cgr.dev', 'registry.example:5000', '127.0.0.1:5000'] };

describe('isManaged', () => {
  const cases: Array<[string, Record<string, string> | undefined, boolean]> = [
    ['no annotations at all', undefined, false],
    ['unrelated annotations', { 'example.com/x': 'y' }, false],
    ['only a registry annotation', { [ANNOTATIONS.registry]: 'cgr.dev' }, false],
    ['the identity annotation', { [ANNOTATIONS.identity]: UID }, true],
    ['the Chainguard alias', { [ANNOTATIONS.identityAlias]: UID }, true],
    ['an empty identity (to be reported, not ignored)', { [ANNOTATIONS.identity]: '' }, true],
    ['a malformed alias (to be reported, not ignored)', { [ANNOTATIONS.identityAlias]: 'a b' }, true],
  ];
  for (const [name, annotations, expected] of cases) {
    it(`${expected ? 'manages' : 'ignores'} a Secret with ${name}`, () => {
      assert.equal(isManaged(annotations), expected);
    });
  }
});

describe('parseTarget', () => {
  const ok: Array<[string, Record<string, string>, { identity: string; registry: string; access: 'pull' | 'push' }]> = [
    ['identity only → default registry', { [ANNOTATIONS.identity]: UID }, { identity: UID, registry: 'cgr.dev', access: 'pull' }],
    ['alias only', { [ANNOTATIONS.identityAlias]: UID }, { identity: UID, registry: 'cgr.dev', access: 'pull' }],
    ['both identities, equal', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.identityAlias]: UID }, { identity: UID, registry: 'cgr.dev', access: 'pull' }],
    ['a configured registry with port', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'registry.example:5000' }, { identity: UID, registry: 'registry.example:5000', access: 'pull' }],
    ['a configured IPv4 registry', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: '127.0.0.1:5000' }, { identity: UID, registry: '127.0.0.1:5000', access: 'pull' }],
    ['registry in upper case (hosts are case-insensitive)', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'CGR.dev' }, { identity: UID, registry: 'cgr.dev', access: 'pull' }],
    ['a name-like identity of another STS', { [ANNOTATIONS.identity]: 'team-a:puller_1.x' }, { identity: 'team-a:puller_1.x', registry: 'cgr.dev', access: 'pull' }],
  ];
  for (const [name, annotations, expected] of ok) {
    it(`accepts ${name}`, () => {
      assert.deepEqual(parseTarget(annotations, settings), expected);
    });
  }

  const bad: Array<[string, Record<string, string>, ErrorCode]> = [
    ['an empty identity', { [ANNOTATIONS.identity]: '' }, 'IdentityInvalid'],
    ['a whitespace identity', { [ANNOTATIONS.identity]: '   ' }, 'IdentityInvalid'],
    ['an identity with inner space', { [ANNOTATIONS.identity]: 'abc def' }, 'IdentityInvalid'],
    ['an identity with a newline', { [ANNOTATIONS.identity]: `${UID}\n` }, 'IdentityInvalid'],
    ['an identity with a control character', { [ANNOTATIONS.identity]: 'abc\u0000def' }, 'IdentityInvalid'],
    ['an identity with query syntax', { [ANNOTATIONS.identity]: 'abc&aud=evil.example' }, 'IdentityInvalid'],
    ['an identity of 254 characters', { [ANNOTATIONS.identity]: 'a'.repeat(254) }, 'IdentityInvalid'],
    ['identity and alias that differ', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.identityAlias]: 'abc/def' }, 'IdentityInvalid'],
    ['a registry with a scheme', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'https://cgr.dev' }, 'RegistryInvalid'],
    ['a registry with a path', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'cgr.dev/chainguard' }, 'RegistryInvalid'],
    ['an empty registry', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: '' }, 'RegistryInvalid'],
    ['a registry with a space', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'cgr .dev' }, 'RegistryInvalid'],
    ['a registry port out of range', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'cgr.dev:70000' }, 'RegistryInvalid'],
    ['a registry label starting with a hyphen', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: '-cgr.dev' }, 'RegistryInvalid'],
    ['a registry not configured', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'ghcr.io' }, 'RegistryNotConfigured'],
    ['a configured host on another port', { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.registry]: 'registry.example:5001' }, 'RegistryNotConfigured'],
  ];
  for (const [name, annotations, code] of bad) {
    it(`rejects ${name} with ${code}`, () => {
      assert.throws(
        () => parseTarget(annotations, settings),
        (error: unknown) => {
          assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
          assert.equal(error.code, code);
          assert.equal(error.transient, false, 'input errors are permanent');
          return true;
        },
      );
    });
  }

  it('always allows the default registry, even when the list omits it', () => {
    assert.deepEqual(parseTarget({ [ANNOTATIONS.identity]: UID }, { defaultRegistry: 'cgr.dev', registries: [] }), {
      identity: UID,
      registry: 'cgr.dev',
      access: 'pull',
    });
  });
});

describe('status formatting', () => {
  it('formats instants as RFC 3339 UTC to the second', () => {
    assert.equal(formatInstant(new Date('2026-11-23T09:18:19.456Z')), '2026-11-23T09:18:19Z');
  });

  it('formats last-error as "<Code>: <message>"', () => {
    assert.equal(formatLastError(new RegcredError('StsForbidden', 'STS answered 403: not allowed')), 'StsForbidden: STS answered 403: not allowed');
  });

  it('keeps tokens and newlines out of last-error even if a message carried them, and bounds its length', () => {
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl';
    const value = formatLastError(new RegcredError('StsRejected', `bad\nrequest ${jwt} ${'x'.repeat(500)}`));
    assert.ok(!value.includes('eyJ'), `last-error holds a JWT: ${value}`);
    assert.ok(!value.includes('\n'), 'last-error holds a newline');
    assert.ok(value.length <= 256, `last-error is ${value.length} characters long`);
    assert.ok(value.startsWith('StsRejected: bad request [redacted]'), value);
  });

  it('builds a success patch that sets expiry and refresh time and clears last-error', () => {
    assert.deepEqual(
      formatStatus({ expiresAt: new Date('2026-11-23T10:00:00Z'), refreshedAt: new Date('2026-11-23T09:00:00.5Z'), error: null }),
      {
        [ANNOTATIONS.expiresAt]: '2026-11-23T10:00:00Z',
        [ANNOTATIONS.refreshedAt]: '2026-11-23T09:00:00Z',
        [ANNOTATIONS.lastError]: null,
      },
    );
  });

  it('builds a failure patch that only sets last-error', () => {
    assert.deepEqual(formatStatus({ error: new RegcredError('IdentityInvalid', 'identity annotation is empty') }), {
      [ANNOTATIONS.lastError]: 'IdentityInvalid: identity annotation is empty',
    });
  });
});
