// The controller's options: defaults that make it a drop-in for Chainguard's pull-secret-updater, env
// vars under KUBE_REGCRED_, and clear errors for values that cannot work.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionsError } from '../../src/config.ts';
import { CONTROLLER_OPTIONS, controllerHelp, parseControllerSettings } from '../../src/controller/options.ts';
import { flagName, envName } from '../../src/config.ts';

describe('controller options', () => {
  it('defaults to Chainguard issuer, audience and registry, cluster-wide, with leader election', () => {
    const s = parseControllerSettings([], {});
    assert.equal(s.issuerUrl, 'https://issuer.enforce.dev');
    assert.equal(s.audience, 'issuer.enforce.dev');
    assert.equal(s.defaultRegistry, 'cgr.dev');
    assert.deepEqual(s.registries, ['cgr.dev']);
    assert.deepEqual(s.namespaces, []);
    assert.equal(s.tokenExpirationSeconds, 3600);
    assert.equal(s.leaderElection.enabled, true);
    assert.deepEqual(s.ops, { host: '0.0.0.0', port: 8080 });
    assert.equal(s.forbiddenRetryMs, 3_600_000);
  });

  it('reads KUBE_REGCRED_ variables; flags win', () => {
    const s = parseControllerSettings(['--registries', 'a.example:5000'], {
      KUBE_REGCRED_NAMESPACES: 'team-a, team-b',
      KUBE_REGCRED_REGISTRIES: 'ignored.example',
      KUBE_REGCRED_LEADER_ELECT: 'false',
      KUBE_REGCRED_EXCHANGE_TIMEOUT: '3s',
    });
    assert.deepEqual(s.namespaces, ['team-a', 'team-b']);
    assert.deepEqual(s.registries, ['cgr.dev', 'a.example:5000']);
    assert.equal(s.leaderElection.enabled, false);
    assert.equal(s.exchangeTimeoutMs, 3000);
  });

  const bad: Array<[string[], RegExp]> = [
    [['--token-expiration-seconds', '599'], /600/],
    [['--concurrency', '0'], /concurrency/],
    [['--registries', 'https://x.example/v2'], /host\[:port\]/],
    [['--issuer-url', 'not a url'], /issuer-url/],
    [['--lease-duration', '5s', '--renew-deadline', '5s'], /renew-deadline/],
    [['--refresh-fraction', '0'], /remainingFraction/],
    [['--ops-address', 'nope'], /ops-address/],
    [['--bogus'], /unknown flag/],
  ];
  for (const [argv, pattern] of bad) {
    it(`refuses ${argv.join(' ')}`, () => {
      assert.throws(() => parseControllerSettings(argv, {}), (err: unknown) => err instanceof OptionsError && pattern.test(err.message));
    });
  }

  it('documents every option with its flag and environment variable in --help', () => {
    const help = controllerHelp();
    for (const key of Object.keys(CONTROLLER_OPTIONS)) {
      assert.ok(help.includes(flagName(key)), `${flagName(key)} missing from --help`);
      assert.ok(help.includes(envName(key, 'KUBE_REGCRED_')), `${envName(key, 'KUBE_REGCRED_')} missing from --help`);
    }
  });
});
