import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeAuth,
  parseDockerConfig,
  readRegistryToken,
  serializeDockerConfig,
  withRegistryToken,
  type DockerConfig,
} from '../../src/dockerconfig.ts';
import { RegcredError } from '../../src/errors.ts';

const OTHER = { username: 'robot', password: 'hunter2-other-registry', auth: encodeAuth('robot', 'hunter2-other-registry') };

describe('parseDockerConfig', () => {
  for (const raw of [undefined, '', '   \n']) {
    it(`reads ${JSON.stringify(raw)} as an empty config`, () => {
      assert.deepEqual(parseDockerConfig(raw), {});
    });
  }

  it('reads a config with auths and other keys as is', () => {
    const config = { auths: { 'ghcr.io': OTHER }, credHelpers: { 'gcr.io': 'gcloud' } };
    assert.deepEqual(parseDockerConfig(JSON.stringify(config)), config);
  });

  const invalid: Array<[string, string]> = [
    ['unparsable JSON', '{"auths": {"ghcr.io": {"password": "hunter2-secret"'],
    ['a JSON array', '[{"password": "hunter2-secret"}]'],
    ['a JSON string', '"hunter2-secret"'],
    ['JSON null', 'null'],
    ['auths as an array', '{"auths": ["hunter2-secret"]}'],
    ['auths as a string', '{"auths": "hunter2-secret"}'],
  ];
  for (const [name, raw] of invalid) {
    it(`rejects ${name} with DockerConfigInvalid, without echoing the content`, () => {
      assert.throws(
        () => parseDockerConfig(raw),
        (error: unknown) => {
          assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
          assert.equal(error.code, 'DockerConfigInvalid');
          assert.ok(!error.message.includes('hunter2'), `message echoes the content: ${error.message}`);
          assert.equal(error.cause, undefined, 'a cause could quote the content');
          return true;
        },
      );
    });
  }
});

describe('withRegistryToken', () => {
  it('writes username _token, password and auth = base64("_token:" + token)', () => {
    const next = withRegistryToken({}, 'cgr.dev', 'tok.en.value');
    assert.deepEqual(next, {
      auths: {
        'cgr.dev': {
          username: '_token',
          password: 'tok.en.value',
          auth: Buffer.from('_token:tok.en.value').toString('base64'),
        },
      },
    });
  });

  it('keeps every other registry entry and top-level key untouched, and does not modify its input', () => {
    const input: DockerConfig = {
      auths: { 'ghcr.io': OTHER, 'cgr.dev': { username: '_token', password: 'old', identitytoken: 'stale' } },
      credHelpers: { 'gcr.io': 'gcloud' },
    };
    const snapshot = structuredClone(input);
    const next = withRegistryToken(input, 'cgr.dev', 'new');
    assert.deepEqual(input, snapshot, 'the input config was modified');
    assert.deepEqual(next.auths?.['ghcr.io'], OTHER);
    assert.deepEqual(next.credHelpers, { 'gcr.io': 'gcloud' });
    assert.deepEqual(next.auths?.['cgr.dev'], { username: '_token', password: 'new', auth: encodeAuth('_token', 'new') });
  });

  it('round-trips through serialize and parse', () => {
    const config = withRegistryToken({ auths: { 'ghcr.io': OTHER } }, 'cgr.dev', 'abc');
    assert.deepEqual(parseDockerConfig(serializeDockerConfig(config)), config);
  });
});

describe('readRegistryToken', () => {
  const entry = (value: unknown): DockerConfig => ({ auths: { 'cgr.dev': value } });
  const cases: Array<[string, DockerConfig, string | undefined]> = [
    ['an entry we wrote', withRegistryToken({}, 'cgr.dev', 'tok'), 'tok'],
    ['_token with password only', entry({ username: '_token', password: 'tok' }), 'tok'],
    ['auth only (what skopeo reads)', entry({ auth: encodeAuth('_token', 'tok') }), 'tok'],
    ['username _token and auth only', entry({ username: '_token', auth: encodeAuth('_token', 'tok') }), 'tok'],
    ['no auths', {}, undefined],
    ['another registry only', { auths: { 'ghcr.io': OTHER } }, undefined],
    ['someone else’s credential (username robot)', entry(OTHER), undefined],
    ['auth naming another user', entry({ auth: encodeAuth('robot', 'tok') }), undefined],
    ['password and auth that disagree', entry({ username: '_token', password: 'new', auth: encodeAuth('_token', 'old') }), undefined],
    ['auth that is not base64 of user:password', entry({ username: '_token', password: 'tok', auth: 'Zm9v' }), undefined],
    ['an empty password and no auth', entry({ username: '_token', password: '' }), undefined],
    ['an entry that is not an object', entry('tok'), undefined],
  ];
  for (const [name, config, expected] of cases) {
    it(`reads ${expected === undefined ? 'no token' : 'the token'} from ${name}`, () => {
      assert.equal(readRegistryToken(config, 'cgr.dev'), expected);
    });
  }
});
