// The proxy's pure decisions: which action a request needs, what a token's access claim grants,
// catalog pagination, and the command line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allows, parseAccessClaim, pullableRepositories, scopeFor } from '../../src/proxy/access.ts';
import { catalogQuery, paginate } from '../../src/proxy/catalog.ts';
import { parseProxySettings } from '../../src/proxy/options.ts';
import { routeRequest } from '../../src/proxy/routes.ts';
import { OptionsError } from '../../src/config.ts';

const DIGEST = 'sha256:' + 'a'.repeat(64);

function route(method: string, path: string, query = '') {
  return routeRequest(method, path, new URLSearchParams(query));
}

describe('routeRequest', () => {
  const cases: Array<[string, string, string, unknown]> = [
    ['GET', '/v2/', '', { kind: 'base' }],
    ['HEAD', '/v2/', '', { kind: 'base' }],
    ['GET', '/v2/_catalog', 'n=10', { kind: 'catalog' }],
    ['GET', '/v2/team/app/manifests/v1.2', '', { kind: 'repository', repository: 'team/app', action: 'pull', endpoint: 'manifest' }],
    ['HEAD', `/v2/team/app/manifests/${DIGEST}`, '', { kind: 'repository', repository: 'team/app', action: 'pull', endpoint: 'manifest' }],
    ['PUT', '/v2/team/app/manifests/latest', '', { kind: 'repository', repository: 'team/app', action: 'push', endpoint: 'manifest' }],
    ['DELETE', `/v2/team/app/manifests/${DIGEST}`, '', { kind: 'repository', repository: 'team/app', action: 'delete', endpoint: 'manifest' }],
    ['GET', `/v2/a/blobs/${DIGEST}`, '', { kind: 'repository', repository: 'a', action: 'pull', endpoint: 'blob' }],
    ['DELETE', `/v2/a/blobs/${DIGEST}`, '', { kind: 'repository', repository: 'a', action: 'delete', endpoint: 'blob' }],
    ['POST', '/v2/a/b/blobs/uploads/', '', { kind: 'repository', repository: 'a/b', action: 'push', endpoint: 'upload' }],
    ['POST', '/v2/a/b/blobs/uploads/', `mount=${DIGEST}&from=c/d`, { kind: 'repository', repository: 'a/b', action: 'push', endpoint: 'upload', mountFrom: 'c/d' }],
    ['PATCH', '/v2/a/blobs/uploads/6f1c-44aa', '_state=xyz', { kind: 'repository', repository: 'a', action: 'push', endpoint: 'upload' }],
    ['PUT', '/v2/a/blobs/uploads/6f1c-44aa', `digest=${DIGEST}`, { kind: 'repository', repository: 'a', action: 'push', endpoint: 'upload' }],
    ['DELETE', '/v2/a/blobs/uploads/6f1c-44aa', '', { kind: 'repository', repository: 'a', action: 'push', endpoint: 'upload' }],
    ['GET', '/v2/a/tags/list', 'n=5', { kind: 'repository', repository: 'a', action: 'pull', endpoint: 'tags' }],
    ['GET', `/v2/a/referrers/${DIGEST}`, '', { kind: 'repository', repository: 'a', action: 'pull', endpoint: 'referrers' }],
    // A repository may have "blobs" or "manifests" as a path component.
    ['GET', '/v2/x/manifests/y/manifests/v1', '', { kind: 'repository', repository: 'x/manifests/y', action: 'pull', endpoint: 'manifest' }],
  ];
  for (const [method, path, query, expected] of cases) {
    test(`${method} ${path}${query ? '?' + query : ''}`, () => {
      assert.deepEqual(route(method, path, query), { ok: true, route: expected });
    });
  }

  test('paths outside the grammar are 404, never forwarded', () => {
    for (const path of ['/', '/v2/a/../b/tags/list', '/v2/a/./tags/list', '/v2/A/tags/list', '/v2/a%2fb/tags/list', '/v2//a/tags/list', '/v2/a/manifests/', '/v2/a/blobs/notadigest', '/v2/a/blobs/uploads/x.y', '/debug/pprof']) {
      assert.deepEqual(route('GET', path), { ok: false, status: 404, reason: 'not an OCI distribution API path' }, path);
    }
  });

  test('methods the API does not define are 405', () => {
    assert.equal((route('POST', '/v2/a/manifests/v1') as { status: number }).status, 405);
    assert.equal((route('PUT', `/v2/a/blobs/${DIGEST}`) as { status: number }).status, 405);
    assert.equal((route('DELETE', '/v2/_catalog') as { status: number }).status, 405);
    assert.equal((route('PATCH', '/v2/a/tags/list') as { status: number }).status, 405);
  });

  test('a mount source that is not a repository name is no mount', () => {
    assert.deepEqual(route('POST', '/v2/a/blobs/uploads/', `mount=${DIGEST}&from=../x`), { ok: true, route: { kind: 'repository', repository: 'a', action: 'push', endpoint: 'upload' } });
  });
});

describe('access claim', () => {
  test('grants exactly the listed actions; * grants all; malformed entries grant nothing', () => {
    const access = parseAccessClaim([
      { type: 'repository', name: 'apps/a', actions: ['pull'] },
      { type: 'repository', name: 'apps/b', actions: ['pull', 'push'] },
      { type: 'repository', name: 'apps/c', actions: ['*'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'apps/d', actions: 'pull' },
      'junk',
      null,
    ]);
    assert.equal(allows(access, 'apps/a', 'pull'), true);
    assert.equal(allows(access, 'apps/a', 'push'), false);
    assert.equal(allows(access, 'apps/b', 'push'), true);
    assert.equal(allows(access, 'apps/b', 'delete'), false);
    assert.equal(allows(access, 'apps/c', 'delete'), true);
    assert.equal(allows(access, 'catalog', 'pull'), false);
    assert.equal(allows(access, 'apps/d', 'pull'), false);
    assert.equal(allows(access, 'apps/zzz', 'pull'), false);
    assert.deepEqual(pullableRepositories(access), ['apps/a', 'apps/b', 'apps/c']);
  });

  test('no claim, or not a list, grants nothing', () => {
    assert.equal(parseAccessClaim(undefined).size, 0);
    assert.equal(parseAccessClaim({ type: 'repository' }).size, 0);
  });

  test('challenge scopes: push asks for pull,push as docker does', () => {
    assert.equal(scopeFor('a/b', 'pull'), 'repository:a/b:pull');
    assert.equal(scopeFor('a/b', 'push'), 'repository:a/b:pull,push');
    assert.equal(scopeFor('a/b', 'delete'), 'repository:a/b:delete');
  });
});

describe('catalog pagination', () => {
  const names = ['a', 'b', 'c', 'd'];
  test('n and last as the distribution spec defines them', () => {
    assert.deepEqual(paginate(names, undefined, undefined), { repositories: names });
    assert.deepEqual(paginate(names, 2, undefined), { repositories: ['a', 'b'], next: 'b' });
    assert.deepEqual(paginate(names, 2, 'b'), { repositories: ['c', 'd'] });
    assert.deepEqual(paginate(names, 10, 'bb'), { repositories: ['c', 'd'] });
    assert.deepEqual(paginate(names, 0, undefined), { repositories: [] });
  });
  test('query values', () => {
    assert.deepEqual(catalogQuery(new URLSearchParams('n=5&last=x')), { n: 5, last: 'x' });
    assert.deepEqual(catalogQuery(new URLSearchParams('n=-1')), { n: undefined, last: undefined });
  });
});

describe('parseProxySettings', () => {
  const required = ['--upstream', 'http://registry:5000', '--realm', 'https://sts.example.com/token', '--service', 'registry.example.com', '--token-issuer', 'kube-regcred-sts'];
  test('defaults', () => {
    const settings = parseProxySettings([...required, '--token-jwks-url', 'http://sts/.well-known/jwks.json'], {});
    assert.equal(settings.upstream.origin, 'http://registry:5000');
    assert.deepEqual(settings.listen, { host: '0.0.0.0', port: 5000 });
    assert.deepEqual(settings.ops, { host: '0.0.0.0', port: 9090 });
    assert.equal(settings.upstreamIdleTimeoutMs, 120_000);
    assert.equal(settings.shutdownGraceMs, 30_000);
  });
  test('from the environment', () => {
    const settings = parseProxySettings([], {
      KUBE_REGCRED_PROXY_UPSTREAM: 'http://r:5000',
      KUBE_REGCRED_PROXY_REALM: 'https://s/token',
      KUBE_REGCRED_PROXY_SERVICE: 'svc',
      KUBE_REGCRED_PROXY_TOKEN_ISSUER: 'iss',
      KUBE_REGCRED_PROXY_TOKEN_KEYS_FILE: '/keys.pem',
    });
    assert.equal(settings.tokenKeysFile, '/keys.pem');
  });
  test('refusals', () => {
    assert.throws(() => parseProxySettings(required, {}), OptionsError, 'no key source');
    assert.throws(() => parseProxySettings([...required, '--token-jwks-url', 'http://a', '--token-keys-file', 'f'], {}), /exactly one/);
    assert.throws(() => parseProxySettings(['--upstream', 'http://r/v2', ...required.slice(2), '--token-keys-file', 'f'], {}), /origin only/);
    assert.throws(() => parseProxySettings([...required.slice(0, 4), '--service', 'a"b', ...required.slice(6), '--token-keys-file', 'f'], {}), /quotes/);
  });
});
