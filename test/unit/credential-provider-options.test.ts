import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '../../src/config.ts';
import { DEFAULT_REFRESH_SCHEDULE } from '../../src/token/refresh-time.ts';
import { parseCredentialProviderSettings } from '../../src/credential-provider/options.ts';

describe('credential-provider options', () => {
  it("defaults to Chainguard's STS, exchange mode, Registry cache keys and the controller's refresh policy", () => {
    assert.deepEqual(parseCredentialProviderSettings([], {}), {
      issuerUrl: 'https://issuer.enforce.dev',
      audience: 'issuer.enforce.dev',
      identityTemplate: undefined,
      mode: 'exchange',
      passthroughUsername: 'kube-regcred',
      cacheKeyType: 'Registry',
      exchangeTimeoutMs: 10_000,
      logLevel: 'info',
      refresh: DEFAULT_REFRESH_SCHEDULE,
    });
  });

  it('takes the provider config env (KUBE_REGCRED_*) and lets args win over it', () => {
    const settings = parseCredentialProviderSettings(['--audience', 'from-args'], { KUBE_REGCRED_AUDIENCE: 'from-env', KUBE_REGCRED_IDENTITY_TEMPLATE: 'ns/{namespace}', KUBE_REGCRED_CACHE_KEY_TYPE: 'Image' });
    assert.equal(settings.audience, 'from-args');
    assert.equal(settings.identityTemplate, 'ns/{namespace}');
    assert.equal(settings.cacheKeyType, 'Image');
  });

  it('refuses what would fail at every pull instead', () => {
    for (const argv of [['--issuer-url', 'issuer.example'], ['--issuer-url', 'ftp://x'], ['--cache-key-type', 'Global'], ['--mode', 'pass-through'], ['--identity-template', ' '], ['--exchange-timeout', 'soon']]) {
      assert.throws(() => parseCredentialProviderSettings(argv, {}), OptionsError, argv.join(' '));
    }
  });
});
