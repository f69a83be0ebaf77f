// `kube-regcred proxy` in front of a registry whose only auth is one static password (htpasswd, Basic):
// the proxy alone knows it; clients still log in with sts tokens and never see it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildTinyImage } from '../support/oci-image.ts';
import { MAIN_OF_APP, startProxyBed, type ProxyBed } from '../support/proxy-bed.ts';
import { skopeoCopy } from '../support/skopeo.ts';

// A throwaway test password and its bcrypt hash (cost 5), made once with crypt(3); no real secret.
const PASSWORD = 'kube-regcred-upstream-test';
const HTPASSWD = 'proxy:$2b$05$6ohWuILqw80WpZb2jHsSNOiqQ101MSyvYQgVtI4Bjb85uG5rKbHB6\n';

const beds: ProxyBed[] = [];
after(async () => {
  for (const bed of beds) await bed.stop();
});

describe('an upstream with a static credential only the proxy knows', () => {
  test('skopeo pushes and pulls through the proxy; the registry itself refuses anyone without the password', async () => {
    const bed = await startProxyBed({ upstreamHtpasswd: HTPASSWD, upstreamCredentials: `proxy:${PASSWORD}` });
    beds.push(bed);
    const image = buildTinyImage(join(bed.dir, 'image'));
    const authfile = await bed.githubAuthfile(MAIN_OF_APP);
    const pushed = await skopeoCopy(`oci:${image}:latest`, `docker://${bed.proxyHost}/apps/static:v1`, { destAuthfile: authfile });
    assert.ok(pushed.ok, `push through the proxy failed: ${pushed.stderr}`);
    const pulled = await skopeoCopy(`docker://${bed.proxyHost}/apps/static:v1`, `oci:${join(bed.dir, 'pulled')}:latest`, { srcAuthfile: authfile });
    assert.ok(pulled.ok, `pull through the proxy failed: ${pulled.stderr}`);
    assert.equal((await fetch(`${bed.registry.url}/v2/apps/static/tags/list`)).status, 401, 'the registry answers without the password');
    const withPassword = await fetch(`${bed.registry.url}/v2/apps/static/tags/list`, { headers: { authorization: 'Basic ' + Buffer.from(`proxy:${PASSWORD}`).toString('base64') } });
    assert.deepEqual(await withPassword.json(), { name: 'apps/static', tags: ['v1'] });
    assert.ok(!bed.logs.text().includes(PASSWORD), 'the upstream password appeared in a log line');
  });

  test('a wrong upstream password is a 502 the client cannot fix, not a challenge', async () => {
    const bed = await startProxyBed({ upstreamHtpasswd: HTPASSWD, upstreamCredentials: 'proxy:wrong' });
    beds.push(bed);
    const token = await bed.registryToken(MAIN_OF_APP, ['repository:apps/static:pull']);
    const res = await fetch(`http://${bed.proxyHost}/v2/apps/static/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 502);
    assert.equal(res.headers.get('www-authenticate'), null);
    assert.deepEqual(await res.json(), { errors: [{ code: 'UNAVAILABLE', message: "the upstream registry refused the proxy's own credential" }] });
    assert.ok(bed.logs.lines.some((line) => line.includes('upstream refused the proxy credential')));
  });
});
