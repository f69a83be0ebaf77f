// The token service's configuration validator: every problem named by its field path, all at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRegcredError } from '../../src/errors.ts';
import { validateStsConfig } from '../../src/sts/config-schema.ts';

function valid(): Record<string, any> {
  return {
    service: 'registry.example',
    tokenIssuer: 'sts.example',
    signing: { keyFile: 'key.pem', certificateFile: 'cert.pem' },
    issuers: [{ name: 'cluster', issuer: 'https://kubernetes.default.svc', audiences: ['sts'] }],
    identities: [
      { uid: 'ci', issuer: 'cluster', subject: 'system:serviceaccount:ci:builder', grants: [{ repository: 'ci/**', actions: ['pull', 'push'] }] },
    ],
  };
}

function problems(config: unknown): string {
  try {
    validateStsConfig(config);
  } catch (err) {
    assert.ok(isRegcredError(err) && err.code === 'ConfigInvalid', 'a RegcredError ConfigInvalid');
    return err.message;
  }
  assert.fail('expected the configuration to be refused');
}

test('a minimal configuration gets its defaults', () => {
  const config = validateStsConfig(valid());
  assert.equal(config.exchangeLifetimeMs, 3_600_000);
  assert.equal(config.registryLifetimeMs, 300_000);
  assert.equal(config.signing.headerStyle, 'x5c');
  assert.deepEqual(config.issuers[0]!.algorithms, ['RS256', 'ES256']);
  assert.deepEqual(config.exchangeAudiences, []);
});

test('errors name the field path, e.g. identities[2].grants[0].repository', () => {
  const config = valid();
  config.identities.push(
    { uid: 'two', issuer: 'cluster', subject: 's', grants: [] },
    { uid: 'three', issuer: 'cluster', subject: 's', grants: [{ repository: '', actions: ['pull'] }, { repository: 'x', actions: ['delete'] }] },
  );
  const message = problems(config);
  assert.match(message, /identities\[2\]\.grants\[0\]\.repository: must be a non-empty string/);
  assert.match(message, /identities\[2\]\.grants\[1\]\.actions\[0\]: "delete" is not an action/);
});

test('every problem is reported at once', () => {
  const config = valid();
  delete config.service;
  config.issuers[0].algorithms = ['HS256', 'none', 'ES256'];
  config.issuers[0].issuer = 'http://plain.example';
  config.identities[0].issuer = 'nope';
  config.identities[0].subjectPatern = 'typo';
  config.lifetimes = { registry: 'forever' };
  config.signing.headerStyle = 'PS256';
  const message = problems(config);
  for (const expected of [
    /service: required/,
    /issuers\[0\]\.algorithms\[0\]: "HS256" is not allowed/,
    /issuers\[0\]\.algorithms\[1\]: "none" is not allowed/,
    /issuers\[0\]\.issuer: must be an https URL/,
    /identities\[0\]\.issuer: no issuer named "nope"/,
    /identities\[0\]\.subjectPatern: unknown field/,
    /lifetimes\.registry: must be a duration/,
    /signing\.headerStyle: must be one of x5c, jwk, kid, jwks/,
  ]) {
    assert.match(message, expected);
  }
});

test('subject rules: exactly one of subject and subjectPattern', () => {
  const both = valid();
  both.identities[0].subjectPattern = 'system:*';
  assert.match(problems(both), /identities\[0\]: set exactly one of subject, subjectPattern/);
  const neither = valid();
  delete neither.identities[0].subject;
  assert.match(problems(neither), /identities\[0\]: set exactly one of subject, subjectPattern/);
});

test('a CEL condition that does not compile or type-check is refused at load, with its path', () => {
  const config = valid();
  config.identities[0].condition = 'claims.sub ==';
  assert.match(problems(config), /identities\[0\]\.condition: /);
  config.identities[0].condition = 'token.sub == "x"';
  assert.match(problems(config), /identities\[0\]\.condition: .*token/);
  config.identities[0].condition = '"not a bool"';
  assert.match(problems(config), /identities\[0\]\.condition: must evaluate to bool/);
  config.identities[0].condition = 'claims["kubernetes.io"].namespace == "ci"';
  assert.doesNotThrow(() => validateStsConfig(config));
});

test('duplicates and names that cannot be Basic-auth usernames are refused', () => {
  const config = valid();
  config.issuers.push({ name: 'cluster', issuer: 'https://kubernetes.default.svc', audiences: ['x'] }, { name: 'a:b', issuer: 'https://c', audiences: ['x'] });
  config.identities.push({ ...config.identities[0] });
  const message = problems(config);
  assert.match(message, /issuers\[1\]\.name: "cluster" is used twice/);
  assert.match(message, /issuers\[1\]\.issuer: listed twice/);
  assert.match(message, /issuers\[2\]\.name: letters, digits/);
  assert.match(message, /identities\[1\]\.uid: "ci" is used twice/);
});

test('x5c needs a certificate; other header styles do not', () => {
  const config = valid();
  delete config.signing.certificateFile;
  assert.match(problems(config), /signing\.certificateFile: required with headerStyle x5c/);
  config.signing.headerStyle = 'kid';
  assert.doesNotThrow(() => validateStsConfig(config));
});

test('lifetimes are bounded', () => {
  const config = valid();
  config.lifetimes = { exchange: '48h', registry: '500ms' };
  const message = problems(config);
  assert.match(message, /lifetimes\.exchange: must be between 1s and 24h/);
  assert.match(message, /lifetimes\.registry: must be between 1s and 24h/);
});

test('not a mapping at all', () => {
  assert.match(problems('just a string'), /must be a YAML mapping/);
  assert.match(problems(null), /must be a YAML mapping/);
});

test('issuer discovery credentials, key staleness and TokenReview settings', () => {
  const config = valid();
  Object.assign(config.issuers[0], { bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token', keysMaxStale: '2h', tokenReview: true });
  const issuer = validateStsConfig(config).issuers[0]!;
  assert.equal(issuer.bearerTokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  assert.equal(issuer.keysMaxStaleMs, 7_200_000);
  assert.equal(issuer.tokenReview, true);
  assert.equal(validateStsConfig(valid()).issuers[0]!.keysMaxStaleMs, undefined, 'unset: the key store default (6h) applies');

  const bad = valid();
  Object.assign(bad.issuers[0], { jwks: { keys: [{}] }, bearerTokenFile: 'token', keysMaxStale: '48h', tokenReview: 'yes' });
  const message = problems(bad);
  assert.match(message, /issuers\[0\]\.bearerTokenFile: only with discovery/);
  assert.match(message, /issuers\[0\]\.keysMaxStale: must be between 1s and 24h/);
  assert.match(message, /issuers\[0\]\.tokenReview: must be true or false/);
});
