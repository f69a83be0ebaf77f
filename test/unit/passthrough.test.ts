// Pass-through, pure parts: which Secrets are pass-through (target), who may get which audience
// (policy), what decide() does with them, the flags, and one TokenRequest per (audience, subject).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS, formatTokenFor, isManaged, parseTarget } from '../../src/annotations.ts';
import { decide, type SecretView } from '../../src/controller/decide.ts';
import { parseControllerSettings } from '../../src/controller/options.ts';
import { createPassthroughCredentials, PASSTHROUGH_WAIT_PREFIX } from '../../src/controller/passthrough-credentials.ts';
import { DEFAULT_REFRESH_SCHEDULE } from '../../src/token/refresh-time.ts';
import { serializeDockerConfig, withRegistryToken } from '../../src/dockerconfig.ts';
import { RegcredError } from '../../src/errors.ts';
import { createPassthroughExchanger } from '../../src/exchange/passthrough.ts';
import { createTokenCache } from '../../src/exchange/token-cache.ts';
import { parseIdentityPolicy } from '../../src/policy/identity-policy.ts';
import { evaluatePassthrough } from '../../src/policy/passthrough-policy.ts';
import { tokenFor } from '../support/unsigned-jwt.ts';

const T0 = new Date('2026-11-23T09:00:00Z');
const REGISTRY = 'zot.example:5000';
const passthroughRegistries = { [REGISTRY]: { audience: 'zot.example', username: 'cluster' } };
const base = { defaultRegistry: 'cgr.dev', registries: ['cgr.dev', 'other.example'], passthroughRegistries, refresh: DEFAULT_REFRESH_SCHEDULE };
const policy = parseIdentityPolicy(`identities: []
passthrough:
  - audience: zot.example
    namespaces: [apps, "team-*"]
  - audience: other.example
    namespaceSelector: { matchLabels: { passthrough: "yes" } }
`);
const settings = { ...base, policy };

function view(annotations: Record<string, string>, dockerConfigJson = '{}', namespace = 'apps'): SecretView {
  return { namespace, name: 'pull-secret', type: 'kubernetes.io/dockerconfigjson', annotations, dockerConfigJson, namespaceLabels: {} };
}

describe('pass-through targets', () => {
  it('a configured registry is pass-through with its audience and username; no identity needed', () => {
    const annotations = { [ANNOTATIONS.exchange]: 'passthrough', [ANNOTATIONS.registry]: REGISTRY };
    assert.ok(isManaged(annotations));
    const target = parseTarget(annotations, base);
    assert.deepEqual(target, { identity: '', registry: REGISTRY, access: 'pull', passthrough: { audience: 'zot.example', username: 'cluster' } });
    assert.equal(formatTokenFor(target), `exchange=passthrough,audience=zot.example,registry=${REGISTRY}`);
    // Configured registries are pass-through even for a Secret that came with an identity.
    assert.equal(parseTarget({ [ANNOTATIONS.identity]: 'x/y', [ANNOTATIONS.registry]: REGISTRY }, base).passthrough?.audience, 'zot.example');
  });

  it('the annotation alone makes another configured registry pass-through, audience = its host', () => {
    const target = parseTarget({ [ANNOTATIONS.exchange]: 'passthrough', [ANNOTATIONS.registry]: 'other.example' }, base);
    assert.deepEqual(target.passthrough, { audience: 'other.example', username: 'kube-regcred' });
  });

  it('refuses another exchange value, and an unconfigured registry', () => {
    assert.throws(() => parseTarget({ [ANNOTATIONS.exchange]: 'magic' }, base), (e: unknown) => e instanceof RegcredError && e.code === 'AccessInvalid');
    assert.throws(() => parseTarget({ [ANNOTATIONS.exchange]: 'passthrough', [ANNOTATIONS.registry]: 'ghcr.io' }, base), (e: unknown) => e instanceof RegcredError && e.code === 'RegistryNotConfigured');
  });
});

describe('pass-through policy', () => {
  const ask = (audience: string, namespace: string, labels: Record<string, string> | undefined = {}) =>
    evaluatePassthrough(policy.passthrough, { audience, namespace, namespaceLabels: labels });

  it('allows the named namespaces and the selected ones, for their audience only', () => {
    assert.equal(ask('zot.example', 'apps').allowed, true);
    assert.equal(ask('zot.example', 'team-x').allowed, true);
    assert.equal(ask('zot.example', 'kube-system').allowed, false);
    assert.equal(ask('other.example', 'anything', { passthrough: 'yes' }).allowed, true);
    assert.equal(ask('other.example', 'anything', undefined).allowed, false, 'unknown labels match no selector');
    assert.equal(ask('unknown.example', 'apps').allowed, false);
  });

  it('is off without a policy file, and a policy without passthrough entries allows none', () => {
    const none = evaluatePassthrough(undefined, { audience: 'zot.example', namespace: 'apps', namespaceLabels: {} });
    assert.ok(!none.allowed && none.error.code === 'NamespaceNotAllowed' && /needs an identity policy/.test(none.error.message));
    assert.equal(evaluatePassthrough(parseIdentityPolicy('identities: []').passthrough, { audience: 'zot.example', namespace: 'apps', namespaceLabels: {} }).allowed, false);
  });

  it('reports every bad passthrough entry with its path', () => {
    assert.throws(
      () => parseIdentityPolicy('identities: []\npassthrough:\n  - audience: "a,b"\n    namespaces: [x]\n  - namespaces: [y]\n  - audience: z\n  - 7\n'),
      (e: unknown) =>
        e instanceof RegcredError &&
        /passthrough\[0\]\.audience/.test(e.message) &&
        /passthrough\[1\]\.audience/.test(e.message) &&
        /passthrough\[2\]: set namespaces/.test(e.message) &&
        /passthrough\[3\]: must be a mapping/.test(e.message),
    );
  });
});

describe('decide for pass-through Secrets', () => {
  const annotations = { [ANNOTATIONS.exchange]: 'passthrough', [ANNOTATIONS.registry]: REGISTRY };
  const target = parseTarget(annotations, base);

  it('asks for a token where the policy allows, refuses (with revocation of its own entry) where not', () => {
    assert.deepEqual(decide(view(annotations), T0, undefined, settings), { kind: 'refresh', target, reason: 'missing' });
    const token = tokenFor(T0, 3600);
    const held = serializeDockerConfig(withRegistryToken({}, REGISTRY, token, 'cluster'));
    const refused = decide(view(annotations, held, 'kube-system'), T0, undefined, settings);
    assert.equal(refused.kind, 'reject');
    assert.equal(refused.kind === 'reject' && refused.revoke, REGISTRY, 'the pass-through entry (username cluster) is ours to remove');
    assert.equal(decide(view(annotations), T0, undefined, base).kind, 'reject', 'no policy: no pass-through');
  });

  it('waits on a good token written with the configured username, and rewrites one under another username', () => {
    const token = tokenFor(T0, 3600);
    const ours = serializeDockerConfig(withRegistryToken({}, REGISTRY, token, 'cluster'));
    assert.equal(decide(view(annotations, ours), T0, undefined, settings).kind, 'wait');
    const renamed = serializeDockerConfig(withRegistryToken({}, REGISTRY, token, '_token'));
    assert.deepEqual(decide(view(annotations, renamed), T0, undefined, settings), { kind: 'refresh', target, reason: 'unreadable' });
  });

  it('never serves a push secret by pass-through', () => {
    const push = { ...view({ ...annotations, [ANNOTATIONS.access]: 'push' }), type: 'Opaque' };
    const action = decide(push, T0, undefined, settings);
    assert.ok(action.kind === 'reject' && action.error.code === 'AccessInvalid');
  });
});

describe('pass-through flags', () => {
  it('parses registry=audience and registry=username, and allows those registries', () => {
    const s = parseControllerSettings(['--passthrough-registries', 'Zot.Example:5000=zot.example', '--passthrough-usernames', 'zot.example:5000=cluster'], {});
    assert.deepEqual(s.passthroughRegistries, { 'zot.example:5000': { audience: 'zot.example', username: 'cluster' } });
    assert.equal(s.bindWorkloadTokens, true);
  });

  it('refuses malformed entries with the flag named', () => {
    for (const [argv, pattern] of [
      [['--passthrough-registries', 'zot.example'], /--passthrough-registries: expected host\[:port\]=value/],
      [['--passthrough-registries', 'zot.example=a b'], /--passthrough-registries: audience/],
      [['--passthrough-usernames', 'zot.example=cluster'], /not in --passthrough-registries/],
      [['--passthrough-registries', 'zot.example=z', '--passthrough-usernames', 'zot.example=a:b'], /may not contain ':'/],
    ] as const) {
      assert.throws(() => parseControllerSettings([...argv], {}), pattern);
    }
  });
});

describe('pass-through credentials: one TokenRequest per (audience, subject) per lifetime', () => {
  const clock = { now: () => T0 };
  const cache = () => createTokenCache({ exchanger: createPassthroughExchanger(), clock, refresh: DEFAULT_REFRESH_SCHEDULE });
  const target = parseTarget({ [ANNOTATIONS.exchange]: 'passthrough', [ANNOTATIONS.registry]: REGISTRY }, base);

  it("shares the controller's own token across Secrets and namespaces", async () => {
    const minted: string[] = [];
    const credentials = createPassthroughCredentials({
      cache: cache(),
      ownSubject: 'system:serviceaccount:kube-regcred:kube-regcred',
      requestOwn: async (audience) => {
        minted.push(audience);
        return tokenFor(T0, 3600, { aud: [audience] });
      },
    });
    const results = await Promise.all(
      ['a', 'b', 'c'].map((ns) => credentials.get({ namespace: ns, name: 'pull-secret', uid: `${ns}-uid` }, target)),
    );
    assert.deepEqual(minted, ['zot.example'], 'one TokenRequest');
    assert.equal(new Set(results.map((r) => r.token)).size, 1);
    assert.equal(credentials.peek({ namespace: 'z', name: 'pull-secret', uid: 'z' }, target)?.token, results[0]!.token);
  });

  it('binds workload tokens to their Secret: one per Secret, none without a uid, none with workload identity off', async () => {
    const bound: Array<string | undefined> = [];
    const workloadTarget = { ...target, serviceAccount: 'app' };
    const credentials = createPassthroughCredentials({
      cache: cache(),
      ownSubject: 'own',
      requestOwn: () => Promise.reject(new Error('not used')),
      requestWorkload: async (sa, audience, boundTo) => {
        bound.push(boundTo?.uid);
        return tokenFor(T0, 3600, { aud: [audience], sub: `system:serviceaccount:${sa.namespace}:${sa.name}` });
      },
    });
    await credentials.get({ namespace: 'apps', name: 'one', uid: 'u1' }, workloadTarget);
    await credentials.get({ namespace: 'apps', name: 'one', uid: 'u1' }, workloadTarget);
    await credentials.get({ namespace: 'apps', name: 'two', uid: 'u2' }, workloadTarget);
    assert.deepEqual(bound, ['u1', 'u2']);
    await assert.rejects(credentials.get({ namespace: 'apps', name: 'x', uid: undefined }, workloadTarget), (e: unknown) => e instanceof RegcredError && e.code === 'KubeInvalid');
    const off = createPassthroughCredentials({ cache: cache(), ownSubject: 'own', requestOwn: () => Promise.reject(new Error('no')) });
    await assert.rejects(off.get({ namespace: 'apps', name: 'one', uid: 'u1' }, workloadTarget), (e: unknown) => e instanceof RegcredError && e.code === 'ServiceAccountInvalid');
  });
  it('names the key a failed Secret waits on as the cache reports a stored token: shared across Secrets of one audience, never an exchange key', async () => {
    const stored: string[] = [];
    const credentials = createPassthroughCredentials({
      cache: createTokenCache({ exchanger: createPassthroughExchanger(), clock, refresh: DEFAULT_REFRESH_SCHEDULE, onStored: (key) => stored.push(PASSTHROUGH_WAIT_PREFIX + key) }),
      ownSubject: 'own',
      requestOwn: async (audience) => tokenFor(T0, 3600, { aud: [audience] }),
      requestWorkload: async (sa, audience) => tokenFor(T0, 3600, { aud: [audience], sub: `system:serviceaccount:${sa.namespace}:${sa.name}` }),
    });
    const a = { namespace: 'a', name: 'pull-secret', uid: 'a' };
    const b = { namespace: 'b', name: 'pull-secret', uid: 'b' };
    assert.equal(credentials.waitKey(a, target), credentials.waitKey(b, target), 'one key for the controller\'s own token of an audience');
    await credentials.get(b, target);
    assert.deepEqual(stored, [credentials.waitKey(a, target)], 'the stored token names the key a waits on');
    const workloadTarget = { ...target, serviceAccount: 'app' };
    assert.notEqual(credentials.waitKey(a, workloadTarget), credentials.waitKey(b, workloadTarget), 'bound workload tokens: one key per Secret');
    assert.ok(credentials.waitKey(a, target).startsWith(PASSTHROUGH_WAIT_PREFIX));
  });
});
