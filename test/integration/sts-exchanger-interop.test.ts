// The controller's Chainguard exchanger (src/exchange/chainguard.ts, unchanged) against the real
// `kube-regcred sts`: the protocol matches, and refusals map to the codes the controller acts on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { RunningSts } from '../../src/cmd/sts.ts';
import { isRegcredError } from '../../src/errors.ts';
import { createChainguardExchanger } from '../../src/exchange/chainguard.ts';
import type { Exchanger } from '../../src/exchange/exchanger.ts';
import { SERVICE, baseConfig, captureLogs, createSigningMaterial, createTestIssuer, decodePart, startTestSts, writeConfig, type TestIssuer } from '../unit/sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const BUILDER = 'system:serviceaccount:ci:builder';
let a: TestIssuer;
let sts: RunningSts;
let exchanger: Exchanger;

before(async () => {
  a = await createTestIssuer('a');
  const b = await createTestIssuer('b');
  const dir = scratchDir('sts-interop-');
  sts = await startTestSts(writeConfig(dir, baseConfig(a, b, createSigningMaterial('ec', dir))), captureLogs());
  exchanger = createChainguardExchanger({ issuerUrl: `http://127.0.0.1:${sts.port}`, audience: a.audience, timeoutMs: 5_000 });
});

after(() => sts?.stop());

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isRegcredError(err), `expected a RegcredError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected the exchange to fail');
}

test('the exchanger gets a registry token for the identity, with its real expiry', async () => {
  const result = await exchanger.exchange({ identity: 'builder', registry: SERVICE, subjectToken: await a.sign(BUILDER) });
  const claims = decodePart(result.token, 1);
  assert.equal(claims.sub, 'builder');
  assert.equal(result.expiresAt.getTime(), (claims.exp as number) * 1000);
});

test('refusals map to the codes the controller treats as permanent', async () => {
  assert.equal(await code(exchanger.exchange({ identity: 'nobody', registry: SERVICE, subjectToken: await a.sign(BUILDER) })), 'StsForbidden');
  assert.equal(await code(exchanger.exchange({ identity: 'builder', registry: 'ghcr.io', subjectToken: await a.sign(BUILDER) })), 'StsForbidden');
  const expired = await a.sign(BUILDER, { iat: Math.floor(Date.now() / 1000) - 7200, lifetimeSeconds: 600 });
  assert.equal(await code(exchanger.exchange({ identity: 'builder', registry: SERVICE, subjectToken: expired })), 'StsUnauthorized');
});
