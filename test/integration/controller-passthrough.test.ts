// Pass-through on the real bed: Distribution behind `kube-regcred sts`, whose /token trusts the bed's
// ServiceAccount issuer (username = the issuer's name, password = a raw OIDC JWT). The controller writes
// a ServiceAccount token for the registry's audience into the Secret, no exchange; skopeo pulls with it;
// tokens of another audience and expired ones are refused; rotation keeps pulls working; a workload's
// token is bound to its Secret, and deleting the Secret makes the apiserver's TokenReview refuse it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuthenticationV1Api, CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { importPKCS8, SignJWT } from 'jose';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { CONTROLLER_SUBJECT, startFullChain, type FullChain } from '../support/full-chain.ts';
import { waitFor } from '../support/wait.ts';
import { logTail } from '../support/process.ts';
import { grantRole } from '../support/rbac.ts';
import { nodeSkipReason, startNode } from '../support/node.ts';
import { createPod, waitForPod } from '../support/pods.ts';
import { scratchDir } from '../support/scratch.ts';

const AUDIENCE = 'registry.passthrough.test';
const ISSUER_NAME = 'cluster';
const APP = 'app';

interface Entry {
  username?: string;
  password?: string;
  auth?: string;
}

function entryOf(secret: V1Secret | undefined, host: string): Entry | undefined {
  const raw = secret?.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  return (JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, Entry> }).auths?.[host];
}

function claims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'));
}

function dockerConfig(host: string, username: string, password: string): string {
  return JSON.stringify({ auths: { [host]: { username, password, auth: Buffer.from(`${username}:${password}`).toString('base64') } } });
}

describe('controller: pass-through tokens against kube-regcred sts /token', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let chain: FullChain;
  let dir: string;
  const ns = `pt-${randomUUID().slice(0, 8)}`;
  const workloadNs = `pt-wl-${randomUUID().slice(0, 8)}`;
  const refusedNs = `pt-no-${randomUUID().slice(0, 8)}`;
  const read = (namespace: string) => core.readNamespacedSecret({ name: 'pull-secret', namespace });
  const pull = (secret: V1Secret) => chain.pullWith(secret, 'demo/app', '1');

  before(async () => {
    cp = await useControlPlane();
    core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    for (const name of [ns, workloadNs, refusedNs]) await core.createNamespace({ body: { metadata: { name } } });
    await core.createNamespacedServiceAccount({ namespace: workloadNs, body: { metadata: { name: APP } } });
    // What the workload-identity component grants, narrowed to one namespace and one ServiceAccount.
    await grantRole(cp, {
      namespace: workloadNs,
      name: 'kube-regcred-tokens',
      rules: [{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: [APP] }],
      serviceAccount: { namespace: 'kube-regcred', name: 'kube-regcred' },
    });
    dir = scratchDir('controller-passthrough-');
    chain = await startFullChain(cp, {
      exchangeLifetime: '10m',
      registryLifetime: '5m',
      namespaces: [ns, workloadNs, refusedNs],
      dir,
      identityPolicy: { identities: [], passthrough: [{ audience: AUDIENCE, namespaces: [ns, workloadNs] }] },
      extraIssuerAudiences: [AUDIENCE],
      extraIdentities: [
        { uid: 'pt-app', issuer: ISSUER_NAME, subject: `system:serviceaccount:${workloadNs}:${APP}`, grants: [{ repository: 'demo/**', actions: ['pull'] }] },
      ],
      // TokenRequest's minimum lifetime (600 s), refreshed as early as the policy allows (at 10% of
      // its life, 60 s), so rotation happens within the test.
      controllerArgsFor: (host) => [
        '--passthrough-registries', `${host}=${AUDIENCE}`,
        '--passthrough-usernames', `${host}=${ISSUER_NAME}`,
        '--workload-identity',
        '--token-expiration-seconds', '600',
        '--refresh-fraction', '0.97',
        '--refresh-jitter', '0',
      ],
    });
    const published = await chain.publish('demo/app', '1');
    assert.ok(published.ok, `publishing through the sts failed: ${published.stderr}`);
  });

  after(async () => {
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const createSecret = (namespace: string, annotations: Record<string, string> = {}) =>
    core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'pull-secret', annotations }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{}' } },
    });

  const filled = (namespace: string, different?: string) =>
    waitFor(async () => {
      const secret = await read(namespace);
      const password = entryOf(secret, chain.registry.host)?.password;
      return password && password !== different ? secret : undefined;
    }, { description: `${namespace}/pull-secret holds a pass-through token`, timeoutMs: 120_000, intervalMs: 250 }).catch((err: Error) => {
      throw new Error(`${err.message}\ncontroller log:\n${logTail(chain.controllerLog)}`);
    });

  let first: string;

  it("fills a Secret of a pass-through registry with the controller's own token for that audience; skopeo pulls", async () => {
    // The registry (the default one) is in --passthrough-registries: audience and username come from there.
    await createSecret(ns, { 'kube-regcred.io/exchange': 'passthrough' });
    const secret = await filled(ns);
    const entry = entryOf(secret, chain.registry.host)!;
    assert.equal(entry.username, ISSUER_NAME, 'the configured username');
    assert.equal(Buffer.from(entry.auth!, 'base64').toString('utf8'), `${ISSUER_NAME}:${entry.password}`, 'auth matches username:password');
    first = entry.password!;
    const c = claims(first);
    assert.deepEqual(c.aud, [AUDIENCE]);
    assert.equal(c.sub, CONTROLLER_SUBJECT);
    assert.equal(c.iss, cp.issuer);
    assert.equal((c.exp as number) - (c.iat as number), 600);
    assert.equal(secret.metadata?.annotations?.['kube-regcred.io/token-for'], `exchange=passthrough,audience=${AUDIENCE},registry=${chain.registry.host}`);
    assert.equal(secret.metadata?.annotations?.['kube-regcred.io/expires-at'], new Date((c.exp as number) * 1000).toISOString().replace('.000Z', 'Z'));
    const pulled = await pull(secret);
    assert.ok(pulled.ok, `skopeo pull with the pass-through Secret failed: ${pulled.stderr}`);
    // The jti is logged at mint time, never the token.
    const log = readFileSync(chain.controllerLog, 'utf8');
    assert.ok(log.includes(`"jti":"${c.jti as string}"`), 'the minted token’s jti is in the log');
    assert.ok(!log.includes(first.split('.')[2]!), 'the token’s signature is not in the log');
  });

  it('a token of another audience, and an expired one, are refused by the registry', async () => {
    const admin = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    const other = await admin.createNamespacedServiceAccountToken({
      name: 'kube-regcred',
      namespace: 'kube-regcred',
      body: { spec: { audiences: ['someone-else'], expirationSeconds: 600 } },
    });
    const wrong = await pull({ data: { '.dockerconfigjson': Buffer.from(dockerConfig(chain.registry.host, ISSUER_NAME, other.status!.token!)).toString('base64') } });
    assert.equal(wrong.ok, false, 'a token for another audience must not pull');
    // Signed with the bed's own ServiceAccount key: everything right but the time.
    const key = await importPKCS8(readFileSync(join(cp.dir, 'pki', 'sa.key'), 'utf8'), 'RS256');
    const kid = (JSON.parse(Buffer.from(first.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid;
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(cp.issuer)
      .setAudience(AUDIENCE)
      .setSubject(CONTROLLER_SUBJECT)
      .setIssuedAt(now - 1200)
      .setExpirationTime(now - 600)
      .sign(key);
    const late = await pull({ data: { '.dockerconfigjson': Buffer.from(dockerConfig(chain.registry.host, ISSUER_NAME, expired)).toString('base64') } });
    assert.equal(late.ok, false, 'an expired token must not pull');
  });

  it('rotates the token before it expires, and pulls keep working with the new one', async () => {
    const secret = await filled(ns, first);
    const next = entryOf(secret, chain.registry.host)!.password!;
    assert.notEqual(claims(next).jti, claims(first).jti);
    assert.ok((claims(next).iat as number) >= (claims(first).iat as number) + 50, 'rotated at the refresh instant, not before');
    const pulled = await pull(secret);
    assert.ok(pulled.ok, `skopeo pull after rotation failed: ${pulled.stderr}`);
  });

  it('a Pod on the real node pulls with the pass-through Secret (kubelet → containerd → POST /token)', { skip: nodeSkipReason() }, async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'default' } } });
    const node = await startNode(cp, { registries: [chain.registry.host] });
    try {
      await createPod(cp, node, { namespace: ns, name: 'passthrough-pod', image: `${chain.registry.host}/demo/app:1`, imagePullSecrets: ['pull-secret'] });
      const outcome = await waitForPod(cp, ns, 'passthrough-pod', 'Running').catch((err: Error) =>
        assert.fail(`${err.message}\nkubelet log:\n${logTail(node.kubeletLog, 20)}\nsts log:\n${logTail(chain.stsLog, 10)}`),
      );
      assert.ok(outcome.events.some((e) => e.reason === 'Pulled'), `no Pulled event: ${JSON.stringify(outcome.events)}`);
    } finally {
      await node.stop();
    }
  });

  it('refuses pass-through to a namespace the identity policy does not name', async () => {
    await createSecret(refusedNs, { 'kube-regcred.io/exchange': 'passthrough' });
    const secret = await waitFor(async () => {
      const s = await read(refusedNs);
      return s.metadata?.annotations?.['kube-regcred.io/last-error'] ? s : undefined;
    }, { description: 'last-error on the refused Secret' });
    assert.match(secret.metadata!.annotations!['kube-regcred.io/last-error']!, /^NamespaceNotAllowed: /);
    assert.equal(entryOf(secret, chain.registry.host), undefined, 'no token was written');
  });

  it("binds a workload's pass-through token to its Secret: deleted Secret, TokenReview says unauthenticated", async (t) => {
    await createSecret(workloadNs, { 'kube-regcred.io/exchange': 'passthrough', 'kube-regcred.io/service-account': APP });
    const secret = await filled(workloadNs);
    const token = entryOf(secret, chain.registry.host)!.password!;
    const c = claims(token);
    assert.equal(c.sub, `system:serviceaccount:${workloadNs}:${APP}`);
    const bound = (c['kubernetes.io'] as { secret?: { name?: string; uid?: string } }).secret;
    assert.deepEqual(bound, { name: 'pull-secret', uid: secret.metadata!.uid }, 'the token names the Secret it is bound to');
    const pulled = await pull(secret);
    assert.ok(pulled.ok, `skopeo pull with the workload pass-through Secret failed: ${pulled.stderr}`);

    const reviews = cp.kubeConfig('admin').makeApiClient(AuthenticationV1Api);
    const review = async () => (await reviews.createTokenReview({ body: { spec: { token, audiences: [AUDIENCE] } } })).status;
    assert.equal((await review())?.authenticated, true, 'valid while the Secret exists');
    await core.deleteNamespacedSecret({ name: 'pull-secret', namespace: workloadNs });
    const deletedAt = Date.now();
    const after = await waitFor(async () => {
      const status = await review();
      return status?.authenticated !== true ? status : undefined;
    }, { description: 'TokenReview refuses the token of the deleted Secret', timeoutMs: 30_000, intervalMs: 200 });
    assert.ok(!after?.authenticated, `expected unauthenticated, got ${JSON.stringify(after)}`);
    t.diagnostic(`TokenReview refused the token ${Date.now() - deletedAt} ms after the Secret was deleted`);
  });
});
