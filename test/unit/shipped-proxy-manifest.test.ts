// The proxy Deployment of manifests/components/proxy starts with the settings it names: every
// KUBE_REGCRED_PROXY_* variable it sets is one the CLI knows, and together they parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { PROXY_ENV_PREFIX, PROXY_OPTIONS, parseProxySettings } from '../../src/proxy/options.ts';
import { envName } from '../../src/config.ts';

const file = join(import.meta.dirname, '..', '..', 'manifests', 'components', 'proxy', 'proxy-deployment.yaml');

test('the shipped proxy Deployment configures the proxy completely and only with known variables', () => {
  const deployment = parse(readFileSync(file, 'utf8')) as { spec: { template: { spec: { containers: { args: string[]; env: { name: string; value: string }[] }[] } } } };
  const container = deployment.spec.template.spec.containers[0]!;
  assert.deepEqual(container.args, ['proxy']);
  const known = new Set(Object.keys(PROXY_OPTIONS).map((key) => envName(key, PROXY_ENV_PREFIX)));
  const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]));
  for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is not a proxy option`);
  const settings = parseProxySettings([], env);
  assert.equal(settings.service, 'registry.example.com');
  assert.equal(settings.tokenJwksUrl?.href, 'http://kube-regcred-sts.kube-regcred.svc/.well-known/jwks.json');
  assert.deepEqual(settings.listen, { host: '0.0.0.0', port: 5000 });
});
