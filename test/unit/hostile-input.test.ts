// What a hostile or careless tenant can put into a Secret, judged by the pure parts: nesting depth,
// bytes that are not UTF-8, oversized data (dropped by the cache, rejected by decide), typos in our
// annotations, and what the cache keeps per Secret.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS, parseAttachTo } from '../../src/annotations.ts';
import { decide, type SecretView } from '../../src/controller/decide.ts';
import { DEFAULT_REFRESH_SCHEDULE } from '../../src/token/refresh-time.ts';
import { toSecretView } from '../../src/controller/secret-view.ts';
import { MAX_DOCKER_CONFIG_BYTES, MAX_DOCKER_CONFIG_DEPTH, decodeDockerConfig, nestingDepth, parseDockerConfig } from '../../src/dockerconfig.ts';
import { RegcredError } from '../../src/errors.ts';
import { toSecretObject } from '../../src/kube/secret-informer.ts';

const UID = '720909c9f5279097d847ad02a2f24ba8f59de36a';
const settings = { defaultRegistry: 'cgr.dev', registries: [], refresh: DEFAULT_REFRESH_SCHEDULE };
const NOW = new Date('2026-12-01T12:00:00Z');
const LIMITS = { dataKey: '.dockerconfigjson', maxDataBytes: MAX_DOCKER_CONFIG_BYTES };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof RegcredError ? `${err.code}: ${err.message}` : `not a RegcredError: ${String(err)}`;
  }
  return undefined;
}

describe('Docker config nesting', () => {
  it('measures depth outside strings only', () => {
    assert.equal(nestingDepth('{"auths":{"a":{"auth":"x"}}}'), 3);
    assert.equal(nestingDepth('{"k":"[[[[{{{{"}'), 1);
    assert.equal(nestingDepth('{"k":"\\"[[["}'), 1);
  });

  it('refuses 6,000 levels with a permanent error that names the limit, and parses real configs', () => {
    const deep = `{"x":${'['.repeat(6000)}${']'.repeat(6000)}}`;
    assert.equal(codeOf(() => parseDockerConfig(deep)), `DockerConfigInvalid: .dockerconfigjson is nested deeper than ${MAX_DOCKER_CONFIG_DEPTH} levels`);
    assert.deepEqual(parseDockerConfig('{"auths":{"r":{"auth":"eA=="}},"credHelpers":{"gcr.io":"gcloud"}}').credHelpers, { 'gcr.io': 'gcloud' });
  });
});

describe('Docker config bytes', () => {
  it('refuses bytes that are not UTF-8 instead of replacing them', () => {
    const raw = Buffer.concat([Buffer.from('{"'), Buffer.from([0xff, 0xfe]), Buffer.from('":1}')]).toString('base64');
    assert.match(codeOf(() => decodeDockerConfig(raw)) ?? '', /^DockerConfigInvalid: .*not valid UTF-8/);
    assert.equal(decodeDockerConfig(Buffer.from('{"é":"ü"}').toString('base64')), '{"é":"ü"}');
  });
});

describe('what the cache keeps of a Secret', () => {
  const raw = (data: Record<string, string>, annotations: Record<string, string>) => ({
    metadata: { namespace: 'ns', name: 'pull-secret', resourceVersion: '7', annotations },
    type: 'kubernetes.io/dockerconfigjson',
    data,
  });

  it('keeps one data key under the cap, our annotations, and only a digest of the others', () => {
    const config = Buffer.from('{}').toString('base64');
    const object = toSecretObject(
      raw({ '.dockerconfigjson': config, other: 'eA==' }, { [ANNOTATIONS.identity]: UID, 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(100_000) }),
      LIMITS,
    );
    assert.deepEqual(object.data, { '.dockerconfigjson': config });
    assert.deepEqual(object.annotations, { [ANNOTATIONS.identity]: UID });
    assert.equal(typeof object.foreignAnnotationsDigest, 'string');
    assert.ok(object.foreignAnnotationsDigest!.length < 32);
    assert.equal(object.droppedDataBytes, undefined);
  });

  it('drops a data key over the cap and remembers its size; decide rejects it as too large', () => {
    const big = Buffer.alloc(MAX_DOCKER_CONFIG_BYTES + 1, 1).toString('base64');
    const object = toSecretObject(raw({ '.dockerconfigjson': big }, { [ANNOTATIONS.identity]: UID }), LIMITS);
    assert.deepEqual(object.data, {});
    assert.equal(object.droppedDataBytes, MAX_DOCKER_CONFIG_BYTES + 1);
    const action = decide(toSecretView(object), NOW, undefined, settings);
    assert.equal(action.kind, 'reject');
    assert.equal(action.kind === 'reject' && action.error.code, 'DockerConfigTooLarge');
    assert.equal(action.kind === 'reject' && action.error.transient, false);
  });

  it('a foreign annotation change still changes the digest (so it still counts as a change)', () => {
    const a = toSecretObject(raw({}, { [ANNOTATIONS.identity]: UID, team: 'a' }), LIMITS);
    const b = toSecretObject(raw({}, { [ANNOTATIONS.identity]: UID, team: 'b' }), LIMITS);
    assert.notEqual(a.foreignAnnotationsDigest, b.foreignAnnotationsDigest);
  });
});

describe('typos in our own annotations', () => {
  const opaque = (access: string): SecretView => ({
    namespace: 'ns',
    name: 'push-secret',
    type: 'Opaque',
    annotations: { [ANNOTATIONS.identity]: UID, [ANNOTATIONS.access]: access },
    dockerConfigJson: undefined,
  });

  it('reports access: PUSH on an Opaque Secret instead of ignoring it', () => {
    const action = decide(opaque('PUSH'), NOW, undefined, settings);
    assert.equal(action.kind, 'reject');
    assert.equal(action.kind === 'reject' && action.error.code, 'AccessInvalid');
    assert.match(action.kind === 'reject' ? action.error.message : '', /must be pull or push, in lower case \(got PUSH\)/);
  });

  it('reports access: pull on an Opaque Secret (only push secrets are Opaque)', () => {
    const action = decide(opaque('pull'), NOW, undefined, settings);
    assert.equal(action.kind === 'reject' && action.error.code, 'AccessInvalid');
  });

  it('names the attach-to annotation, not service-account, for a bad name in its list', () => {
    assert.match(codeOf(() => parseAttachTo('Default,../x')) ?? '', /^ServiceAccountInvalid: kube-regcred\.io\/attach-to lists a name/);
  });
});
