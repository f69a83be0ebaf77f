// The example configuration shipped in manifests/components/sts must stay valid as the schema evolves.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { parse } from 'yaml';
import { validateStsConfig } from '../../src/sts/config-schema.ts';

it('the sts component ships a configuration the token service accepts', () => {
  const file = join(import.meta.dirname, '..', '..', 'manifests', 'components', 'sts', 'config.yaml');
  const config = validateStsConfig(parse(readFileSync(file, 'utf8')));
  assert.equal(config.signing.headerStyle, 'x5c');
  assert.ok(
    config.identities.some((identity) => identity.subject === 'system:serviceaccount:kube-regcred:kube-regcred'),
    'the example trusts the controller ServiceAccount the base manifests create',
  );
  assert.ok(config.issuers[0]!.audiences.includes('kube-regcred-sts'), 'the controller audience set by the component is accepted');
  // The component ships no anonymous discovery binding: the sts reads discovery as its ServiceAccount.
  assert.equal(config.issuers[0]!.bearerTokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
});
