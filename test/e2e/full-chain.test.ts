// The full chain, every piece real: kube-apiserver issues the controller's ServiceAccount token; the
// controller (a CLI process, under the shipped manifests' RBAC) exchanges it at `kube-regcred sts`;
// skopeo pulls from a Distribution registry with the Secret; tokens expire and are refreshed; an identity
// removed from the sts stops getting tokens, and the last one stops working when it expires.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type CoreV1Event, type V1Secret } from '@kubernetes/client-node';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { startFullChain, type FullChain } from '../support/full-chain.ts';
import { waitFor } from '../support/wait.ts';
import { logTail } from '../support/process.ts';

const EXPIRES_AT = 'kube-regcred.io/expires-at';
const LAST_ERROR = 'kube-regcred.io/last-error';

function tokenIn(secret: V1Secret | undefined, host: string): string | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  const config = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string }> };
  return config.auths?.[host]?.password;
}

function claims(jwt: string): { sub?: string; exp?: number; aud?: string | string[] } {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('full chain: apiserver → controller → sts → registry → skopeo', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let chain: FullChain;
  const ns = `e2e-${randomUUID().slice(0, 8)}`;
  const tokensSeen: string[] = [];
  const read = async (): Promise<V1Secret> => core.readNamespacedSecret({ name: 'pull-secret', namespace: ns });

  before(async () => {
    cp = await useControlPlane();
    core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    chain = await startFullChain(cp, { exchangeLifetime: '30s', registryLifetime: '10s', namespaces: [ns] });
    const published = await chain.publish('demo/app', '1');
    assert.ok(published.ok, `publishing the demo image through the sts failed: ${published.stderr}`);
  });

  after(async () => {
    await chain?.stop();
  });

  it('fills an annotated pull secret with a token the registry accepts', async () => {
    // Exactly what the README tells a platform engineer to do.
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'pull-secret' }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{}' } },
    });
    await core.patchNamespacedSecret({
      name: 'pull-secret',
      namespace: ns,
      body: [{ op: 'add', path: '/metadata/annotations', value: { 'kube-regcred.io/identity': chain.identities.pull } }],
    });
    const secret = await waitFor(async () => {
      const s = await read();
      return tokenIn(s, chain.registry.host) ? s : undefined;
    }, { description: 'pull-secret filled by the controller', timeoutMs: 30_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\n--- controller log ---\n${logTail(chain.controllerLog)}\n--- sts log ---\n${logTail(chain.stsLog)}`);
    });
    const token = tokenIn(secret, chain.registry.host)!;
    tokensSeen.push(token);
    assert.equal(claims(token).sub, chain.identities.pull, 'the registry token is for the annotated identity');
    assert.ok(secret.metadata?.annotations?.[EXPIRES_AT], 'expires-at is recorded');

    const pull = await chain.pullWith(secret, 'demo/app', '1');
    assert.ok(pull.ok, `skopeo could not pull with the Secret: ${pull.stderr}`);
  });

  it('refreshes the token before it expires, and skopeo still pulls after the first one expired', async () => {
    const first = tokensSeen[0]!;
    // Tokens are compared with assert.ok throughout, so that a failing assertion never prints one.
    const firstExp = claims(first).exp! * 1000;
    const refreshed = await waitFor(async () => {
      const s = await read();
      const token = tokenIn(s, chain.registry.host);
      return token && token !== first ? s : undefined;
    }, { description: 'a refreshed token', timeoutMs: 40_000 });
    const second = tokenIn(refreshed, chain.registry.host)!;
    tokensSeen.push(second);
    const refreshedAt = Date.parse(refreshed.metadata!.annotations!['kube-regcred.io/refreshed-at']!);
    assert.ok(refreshedAt < firstExp, `refreshed at ${new Date(refreshedAt).toISOString()}, after the old token expired at ${new Date(firstExp).toISOString()}`);
    assert.ok(claims(second).exp! * 1000 > firstExp, 'the new token lives longer than the old one');

    await waitFor(() => Date.now() > firstExp + 1000, { description: 'the first token expired', timeoutMs: 40_000 });
    const pull = await chain.pullWith(await read(), 'demo/app', '1');
    assert.ok(pull.ok, `skopeo could not pull after the refresh: ${pull.stderr}`);
  });

  it('an identity removed from the sts gets an Event on the next refresh, and its last token dies at exp', async () => {
    chain.removePullIdentity();
    const failed = await waitFor(async () => {
      const s = await read();
      return s.metadata?.annotations?.[LAST_ERROR] ? s : undefined;
    }, { description: 'last-error after the identity was removed', timeoutMs: 45_000 });
    assert.match(failed.metadata!.annotations![LAST_ERROR]!, /^StsForbidden: /);
    const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=pull-secret' });
    const warning = events.items.find((e: CoreV1Event) => e.type === 'Warning' && e.reason === 'ExchangeFailed');
    assert.ok(warning, `no ExchangeFailed Warning Event; got ${events.items.map((e) => `${e.type}/${e.reason}`).join(', ')}`);

    // The Secret keeps the last good token (not blanked, not replaced by garbage): valid until its exp.
    // (Compared with assert.ok, so that a failure never prints a token.)
    const last = tokenIn(failed, chain.registry.host);
    assert.ok(last !== undefined, 'the Secret lost its token when the refresh failed');
    tokensSeen.push(last);
    assert.ok(claims(last).sub === chain.identities.pull, 'the kept token is the identity\'s last good one');
    const lastExp = claims(last).exp! * 1000;
    assert.ok(lastExp > Date.parse(failed.metadata!.annotations!['kube-regcred.io/refreshed-at']!), 'the kept token outlives its refresh');
    await waitFor(() => Date.now() > lastExp + 1000, { description: 'the last token expired', timeoutMs: 45_000 });
    const pull = await chain.pullWith(await read(), 'demo/app', '1');
    assert.equal(pull.ok, false, 'skopeo must not pull with an expired token of a removed identity');
    assert.match(pull.stderr, /unauthorized|authentication required|401|denied/i);
  });

  it('never writes a token into the controller or sts logs', () => {
    const logs = readFileSync(chain.controllerLog, 'utf8') + readFileSync(chain.stsLog, 'utf8');
    assert.ok(logs.length > 0, 'the components logged nothing at all');
    for (const token of tokensSeen) {
      assert.ok(!logs.includes(token), 'a registry token appears in a log');
      assert.ok(!logs.includes(token.split('.')[2]!), 'a token signature appears in a log');
    }
  });
});
