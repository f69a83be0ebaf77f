// `kube-regcred proxy` in front of a real Distribution registry that has no auth of its own: skopeo
// pushes and pulls through it with tokens from `kube-regcred sts`; what the token does not grant
// never reaches the registry; uploads stream with Locations pointing at the proxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { buildTinyImage } from '../support/oci-image.ts';
import { BRANCH_OF_APP, MAIN_OF_APP, OTHER_REPOSITORY, PROXY_SERVICE, startProxyBed, type ProxyBed } from '../support/proxy-bed.ts';
import { skopeoCopy } from '../support/skopeo.ts';

let bed: ProxyBed;
let image: string;

async function push(authfile: string, repository: string, tag = 'v1') {
  return skopeoCopy(`oci:${image}:latest`, `docker://${bed.proxyHost}/${repository}:${tag}`, { destAuthfile: authfile });
}

async function pull(authfile: string, repository: string, tag = 'v1') {
  return skopeoCopy(`docker://${bed.proxyHost}/${repository}:${tag}`, `oci:${mkdtempSync(join(bed.dir, 'pulled-'))}:latest`, { srcAuthfile: authfile });
}

/** What the registry itself holds, read on its own port (clients never use it). */
async function upstreamTags(repository: string): Promise<string[]> {
  const res = await fetch(`${bed.registry.url}/v2/${repository}/tags/list`);
  if (res.status !== 200) return [];
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${bed.proxy.opsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

before(async () => {
  bed = await startProxyBed();
  image = buildTinyImage(join(bed.dir, 'image'));
});

after(async () => {
  await bed?.stop();
});

describe('skopeo through the proxy, with sts tokens', () => {
  test('pushes and pulls: the image lands in the registry behind the proxy', async () => {
    const authfile = await bed.githubAuthfile(MAIN_OF_APP);
    const pushed = await push(authfile, 'apps/hello');
    assert.ok(pushed.ok, `push through the proxy failed: ${pushed.stderr}`);
    assert.deepEqual(await upstreamTags('apps/hello'), ['v1']);
    const pulled = await pull(await bed.githubAuthfile(BRANCH_OF_APP), 'apps/hello');
    assert.ok(pulled.ok, `pull through the proxy failed: ${pulled.stderr}`);
    assert.ok((await metric('kube_regcred_proxy_bytes_total', 'direction="upload"')) > 0, 'upload bytes counted');
    assert.ok((await metric('kube_regcred_proxy_bytes_total', 'direction="download"')) > 0, 'download bytes counted');
    assert.ok((await metric('kube_regcred_proxy_requests_total', 'action="push",result="forwarded"')) > 0);
  });

  test('a pull-only token cannot push, and nothing reaches the registry', async () => {
    const denied = await metric('kube_regcred_proxy_requests_total', 'action="push",result="denied"');
    const result = await push(await bed.githubAuthfile(BRANCH_OF_APP), 'apps/by-branch');
    assert.ok(!result.ok, 'a pull-only job pushed');
    assert.match(result.stderr, /denied|unauthorized/i);
    assert.deepEqual(await upstreamTags('apps/by-branch'), []);
    assert.ok((await metric('kube_regcred_proxy_requests_total', 'action="push",result="denied"')) > denied, 'the refusal is counted');
  });

  test('a repository outside the grants is refused for push and pull', async () => {
    const authfile = await bed.githubAuthfile(MAIN_OF_APP);
    const pushed = await push(authfile, 'other/thing');
    assert.ok(!pushed.ok, 'a push outside the grants succeeded');
    assert.deepEqual(await upstreamTags('other/thing'), []);
    const pulled = await pull(authfile, 'other/thing');
    assert.ok(!pulled.ok, 'a pull outside the grants succeeded');
  });

  test('a job of another repository gets no token at all (sts policy)', async () => {
    const result = await pull(await bed.githubAuthfile(OTHER_REPOSITORY), 'apps/hello');
    assert.ok(!result.ok, 'a job of evil/app pulled');
    assert.match(result.stderr, /unauthorized|401/i);
  });
});

describe('the proxy on the wire', () => {
  test('no token: 401 with a Bearer challenge naming the sts, the service and the scope', async () => {
    const res = await fetch(`http://${bed.proxyHost}/v2/apps/hello/manifests/v1`);
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get('www-authenticate'),
      `Bearer realm="http://127.0.0.1:${bed.sts.port}/token",service="${PROXY_SERVICE}",scope="repository:apps/hello:pull"`,
    );
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
    const base = await fetch(`http://${bed.proxyHost}/v2/`);
    assert.equal(base.status, 401);
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="http://127.0.0.1:${bed.sts.port}/token",service="${PROXY_SERVICE}"`);
  });

  test('a token without the grant: 403 with a distribution-spec DENIED body', async () => {
    const token = await bed.registryToken(BRANCH_OF_APP, ['repository:apps/hello:pull,push']);
    const res = await fetch(`http://${bed.proxyHost}/v2/apps/hello/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    assert.equal(res.status, 403);
    const body = (await res.json()) as { errors: { code: string; detail: unknown }[] };
    assert.equal(body.errors[0]!.code, 'DENIED');
    assert.deepEqual(body.errors[0]!.detail, [{ Type: 'repository', Name: 'apps/hello', Action: 'push' }]);
  });

  test('a token the sts minted for another service is refused (aud), though its signature is good', async () => {
    const other = await bed.startOtherService('registry.elsewhere.test');
    const jobToken = await bed.oidc.sign(MAIN_OF_APP, 'kube-regcred-sts');
    const res = await fetch(`http://127.0.0.1:${other.port}/token?service=registry.elsewhere.test&scope=repository:apps/hello:pull`, {
      headers: { authorization: 'Basic ' + Buffer.from(`github:${jobToken}`).toString('base64') },
    });
    assert.equal(res.status, 200);
    const { token } = (await res.json()) as { token: string };
    bed.secrets.push(token, jobToken);
    const refused = await fetch(`http://${bed.proxyHost}/v2/apps/hello/manifests/v1`, { headers: bearer(token) });
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.match(((await refused.json()) as { errors: { message: string }[] }).errors[0]!.message, /another registry/);
  });

  test('a forged token (signed by a key the proxy does not trust) is refused', async () => {
    const { SignJWT, generateKeyPair } = await import('jose');
    const { privateKey } = await generateKeyPair('ES256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ access: [{ type: 'repository', name: 'apps/hello', actions: ['pull', 'push', '*'] }] })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
      .setIssuer('kube-regcred-sts-proxy-test')
      .setAudience(PROXY_SERVICE)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    const res = await fetch(`http://${bed.proxyHost}/v2/apps/hello/manifests/v1`, { headers: bearer(forged) });
    assert.equal(res.status, 401);
  });

  test('upload Locations point at the proxy, and a blob pushed in one PATCH is served back with its digest and Range', async () => {
    const token = await bed.registryToken(MAIN_OF_APP, ['repository:apps/raw:pull,push']);
    const start = await fetch(`http://${bed.proxyHost}/v2/apps/raw/blobs/uploads/`, { method: 'POST', headers: bearer(token) });
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    assert.ok(location.startsWith(`http://${bed.proxyHost}/v2/apps/raw/blobs/uploads/`), `Location not rewritten to the proxy: ${location}`);
    const data = Buffer.from('kube-regcred proxy blob '.repeat(1000));
    const patched = await fetch(location, { method: 'PATCH', headers: { ...bearer(token), 'content-type': 'application/octet-stream' }, body: data });
    assert.equal(patched.status, 202);
    const { createHash } = await import('node:crypto');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const next = new URL(patched.headers.get('location')!);
    assert.equal(next.host, bed.proxyHost);
    next.searchParams.set('digest', digest);
    const done = await fetch(next, { method: 'PUT', headers: bearer(token) });
    assert.equal(done.status, 201);
    assert.equal(done.headers.get('docker-content-digest'), digest);
    const head = await fetch(`http://${bed.proxyHost}/v2/apps/raw/blobs/${digest}`, { method: 'HEAD', headers: bearer(token) });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    const ranged = await fetch(`http://${bed.proxyHost}/v2/apps/raw/blobs/${digest}`, { headers: { ...bearer(token), range: 'bytes=0-9' } });
    assert.equal(ranged.status, 206);
    assert.equal(await ranged.text(), data.subarray(0, 10).toString());
    // DELETE needs `delete`, which the sts never grants.
    const deleted = await fetch(`http://${bed.proxyHost}/v2/apps/raw/blobs/${digest}`, { method: 'DELETE', headers: bearer(token) });
    assert.equal(deleted.status, 403);
  });

  test('catalog and tag lists follow the token: only pullable repositories that exist', async () => {
    const token = await bed.registryToken(BRANCH_OF_APP, ['repository:apps/hello:pull', 'repository:apps/missing:pull', 'repository:other/thing:pull']);
    const catalog = await fetch(`http://${bed.proxyHost}/v2/_catalog`, { headers: bearer(token) });
    assert.equal(catalog.status, 200);
    assert.deepEqual(await catalog.json(), { repositories: ['apps/hello'] });
    const tags = await fetch(`http://${bed.proxyHost}/v2/apps/hello/tags/list`, { headers: bearer(token) });
    assert.deepEqual(await tags.json(), { name: 'apps/hello', tags: ['v1'] });
    const hidden = await fetch(`http://${bed.proxyHost}/v2/apps/raw/tags/list`, { headers: bearer(token) });
    assert.equal(hidden.status, 403);
  });

  test('paths outside the API grammar are not forwarded', async () => {
    const token = await bed.registryToken(MAIN_OF_APP, ['repository:apps/hello:pull']);
    // node:http sends the path as written (fetch would resolve the dot segments itself).
    const { request } = await import('node:http');
    const statusOf = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: bed.proxy.port, path, headers: bearer(token) }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const path of ['/v2/apps/hello/../raw/tags/list', '/v2/apps/hello/./tags/list', '/v2/apps%2fhello/tags/list', '/debug/vars', '/v2/APPS/hello/tags/list', '/v2//apps/hello/tags/list']) {
      assert.equal(await statusOf(path), 404, `${path} was not refused as outside the API`);
    }
  });

  test('/healthz and /readyz on the ops port', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${bed.proxy.opsPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${bed.proxy.opsPort}/readyz`)).status, 200);
  });
});

describe('logs', () => {
  test('no job token or registry token appears in any log line', () => {
    const text = bed.logs.text();
    assert.ok(bed.logs.lines.some((line) => line.includes('"msg":"access denied"')), 'the denial was logged');
    for (const secret of bed.secrets) {
      for (const part of secret.split('.')) if (part.length >= 16) assert.ok(!text.includes(part), 'a token appeared in the logs');
    }
  });
});
