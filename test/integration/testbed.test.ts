// Proves the test bed is real: TokenRequest tokens verify against the apiserver's own JWKS, RBAC with
// resourceNames is enforced, and a Distribution registry with token auth works with skopeo.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { randomUUID, createPrivateKey, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify, SignJWT, customFetch } from 'jose';
import { ApiException, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { useControlPlane, type ControlPlane } from '../support/testbed.ts';
import { createCertificateAuthority, issueCertificate } from '../support/pki.ts';
import { startRegistry, type RegistryProcess } from '../support/registry.ts';
import { buildTinyImage } from '../support/oci-image.ts';
import { skopeoCopy, writeAuthfile } from '../support/skopeo.ts';
import { fetchWithCa } from '../support/fetch-with-ca.ts';
import { scratchDir } from '../support/scratch.ts';

async function expectStatus(promise: Promise<unknown>, code: number, what: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ApiException, `${what}: expected an ApiException, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: expected HTTP ${code}, got ${err.code}`);
    return;
  }
  assert.fail(`${what}: expected HTTP ${code}, but the request succeeded`);
}

describe('control plane', () => {
  let cp: ControlPlane;
  const ns = `bed-${randomUUID().slice(0, 8)}`;
  before(async () => {
    cp = await useControlPlane();
    await cp.kubeConfig('admin').makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  });

  it('issues ServiceAccount tokens that verify against its own discovery document and JWKS', async () => {
    const core = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'minted' } } });
    const result = await core.createNamespacedServiceAccountToken({
      name: 'minted',
      namespace: ns,
      body: { spec: { audiences: ['sts.example.test'], expirationSeconds: 600 } },
    });
    const token = result.status?.token;
    assert.ok(token, 'TokenRequest returned no token');

    // Anonymous discovery, as an STS outside the cluster would do it.
    const fetchCa = fetchWithCa(cp.caPem);
    const discovery = (await (await fetchCa(`${cp.issuer}/.well-known/openid-configuration`)).json()) as {
      issuer: string;
      jwks_uri: string;
    };
    assert.equal(discovery.issuer, cp.issuer);
    const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { [customFetch]: fetchCa });
    const { payload } = await jwtVerify(token, jwks, { issuer: cp.issuer, audience: 'sts.example.test' });
    assert.equal(payload.sub, `system:serviceaccount:${ns}:minted`);
    const lifetime = (payload.exp ?? 0) - (payload.iat ?? 0);
    assert.equal(lifetime, 600, `token lifetime: expected 600 s, got ${lifetime}`);

    await assert.rejects(
      jwtVerify(token, jwks, { issuer: cp.issuer, audience: 'another-audience' }),
      /aud/,
      'a token must not verify for an audience it was not minted for',
    );
  });

  it('refuses a low-privilege identity until a resourceNames grant covers exactly that Secret', async () => {
    const admin = cp.kubeConfig('admin').makeApiClient(CoreV1Api);
    const tester = cp.kubeConfig('tester').makeApiClient(CoreV1Api);
    for (const name of ['pull-secret', 'other-secret']) {
      await admin.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{}' } },
      });
    }
    const update = (name: string) =>
      tester.replaceNamespacedSecret({
        name,
        namespace: ns,
        body: { metadata: { name }, type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{"auths":{}}' } },
      });
    await expectStatus(update('pull-secret'), 403, 'update before the grant');

    const rbac = cp.kubeConfig('admin').makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'update-pull-secret' },
        rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['update'], resourceNames: ['pull-secret'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'tester-update-pull-secret' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'update-pull-secret' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'tester' }],
      },
    });
    // RBAC is served from an informer inside the apiserver: the grant takes effect within moments.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await update('pull-secret');
        break;
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 403) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await expectStatus(update('other-secret'), 403, 'update of a Secret the grant does not name');
  });
});

/** The smallest Docker token endpoint that can work: one user, grants what the scope asks. */
function startMinimalTokenEndpoint(signer: { keyPem: string; certPem: string }, service: string, issuer: string) {
  const key = createPrivateKey(signer.keyPem);
  const x5c = [new X509Certificate(signer.certPem).raw.toString('base64')];
  const calls: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const basic = (req.headers.authorization ?? '').replace(/^Basic /, '');
    const [user, password] = Buffer.from(basic, 'base64').toString().split(':');
    calls.push(url.searchParams.getAll('scope').join(' '));
    if (user !== 'pusher' || password !== 'correct horse') {
      res.writeHead(401, { 'www-authenticate': `Basic realm="test"` }).end();
      return;
    }
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: (actions ?? '').split(',') };
    });
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c })
      .setIssuer(issuer)
      .setSubject(user)
      .setAudience(service)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(key);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
  });
  return new Promise<{ url: string; calls: string[]; close: () => Promise<void> }>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${port}/token`,
        calls,
        close: () => new Promise((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}

describe('registry', () => {
  const work = scratchDir('bed-registry-');
  const ca = createCertificateAuthority(work);
  const signer = issueCertificate(ca, { commonName: 'token-signer' });
  let tokens: Awaited<ReturnType<typeof startMinimalTokenEndpoint>>;
  let registry: RegistryProcess;
  const service = 'registry.test';
  const issuer = 'bed-token-issuer';

  before(async () => {
    tokens = await startMinimalTokenEndpoint(signer, service, issuer);
    registry = await startRegistry({ realm: tokens.url, service, issuer, rootCertBundlePath: ca.certFile });
  });
  after(async () => {
    await registry?.stop();
    await tokens?.close();
  });

  it('challenges an anonymous client with a Bearer realm', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer /);
    assert.ok(challenge.includes(`realm="${tokens.url}"`), `challenge should name the realm, got: ${challenge}`);
    assert.ok(challenge.includes(`service="${service}"`), `challenge should name the service, got: ${challenge}`);
  });

  it('lets skopeo push and pull with a good credential and refuses a wrong one', async () => {
    const image = buildTinyImage(join(work, 'image'));
    const good = writeAuthfile(
      JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('pusher:correct horse').toString('base64') } } }),
    );
    const bad = writeAuthfile(
      JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('pusher:wrong').toString('base64') } } }),
    );
    const ref = `docker://${registry.host}/bed/tiny:1`;

    const push = await skopeoCopy(`oci:${image}:latest`, ref, { destAuthfile: good });
    assert.ok(push.ok, `push with a good credential failed: ${push.stderr}`);
    assert.ok(tokens.calls.some((scope) => scope.includes('repository:bed/tiny:') && scope.includes('push')));

    const pulled = join(work, 'pulled');
    const pull = await skopeoCopy(ref, `oci:${pulled}:latest`, { srcAuthfile: good });
    assert.ok(pull.ok, `pull with a good credential failed: ${pull.stderr}`);

    const refused = await skopeoCopy(ref, `oci:${join(work, 'refused')}:latest`, { srcAuthfile: bad });
    assert.equal(refused.ok, false, 'pull with a wrong credential must fail');
    assert.match(refused.stderr, /unauthorized|authentication required|401/i);
  });
});
