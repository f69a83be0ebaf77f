// The identity policy on the real test bed: a namespace outside the policy is refused (Event, last-error,
// metric, no exchange) and one inside is served; a Namespace label change revokes and restores; a policy
// file rewrite takes effect without a restart; changing the identity annotation refreshes at once.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import {
  REGISTRY,
  dockerConfigOf,
  metricValue,
  tokenOf,
  type TestController,
  useControllerBed,
} from './controller-harness.ts';
import { scratchDir } from '../support/scratch.ts';

const LABEL = 'regcred-policy-test';

describe('controller: identity policy', () => {
  const bed = useControllerBed();
  let controller: TestController;
  let policyPath: string;
  let allowed: string;
  let refused: string;
  let labelled: string;
  const policy = (extraNamespaces: string[]) => `
identities:
  - uid: team/puller
    uses: [pull]
    namespaces: [${[allowed, ...extraNamespaces].join(', ')}]
  - uid: team/puller-2
    uses: [pull]
    namespaces: [${allowed}]
  - uid: shared/puller
    namespaceSelector:
      matchLabels: { ${LABEL}: allowed }
`;

  before(async () => {
    allowed = await bed.kube.namespace('policy-in');
    refused = await bed.kube.namespace('policy-out');
    labelled = await bed.kube.namespace('policy-label');
    policyPath = join(scratchDir('policy-it-'), 'policy.yaml');
    writeFileSync(policyPath, policy([]));
    controller = await bed.startController([allowed, refused, labelled], ['--no-leader-elect', '--identity-policy', policyPath]);
  });

  const filled = (ns: string) => waitFor(async () => tokenOf(await bed.kube.secret(ns, 'pull-secret')), { description: `${ns}/pull-secret filled` });
  const emptied = (ns: string) =>
    waitFor(async () => {
      const config = dockerConfigOf(await bed.kube.secret(ns, 'pull-secret')) as { auths?: Record<string, unknown> } | undefined;
      return config && !Object.hasOwn(config.auths ?? {}, REGISTRY) ? config : undefined;
    }, { description: `${ns}/pull-secret has no ${REGISTRY} entry` });

  it('serves a namespace inside the policy and refuses one outside, without an exchange', async () => {
    await bed.kube.createPullSecret(allowed, 'pull-secret', { 'kube-regcred.io/identity': 'team/puller' });
    await bed.kube.createPullSecret(refused, 'pull-secret', { 'kube-regcred.io/identity': 'team/puller' });
    await filled(allowed);
    const events = await waitFor(async () => {
      const list = (await bed.kube.events(refused, 'pull-secret')).filter((e) => e.reason === 'NotAllowed');
      return list.length > 0 ? list : undefined;
    }, { description: 'a NotAllowed Event in the refused namespace' });
    assert.equal(events[0]!.type, 'Warning');
    assert.match(events[0]!.message ?? '', /^NamespaceNotAllowed: namespace policy-out-\w+ may not use identity team\/puller/);
    const secret = await waitFor(async () => {
      const s = await bed.kube.secret(refused, 'pull-secret');
      return s?.metadata?.annotations?.['kube-regcred.io/last-error'] ? s : undefined;
    }, { description: 'last-error on the refused Secret' });
    assert.match(secret.metadata!.annotations!['kube-regcred.io/last-error']!, /^NamespaceNotAllowed:/);
    assert.equal(tokenOf(secret), undefined);
    assert.equal(bed.sts.calls.byIdentity.get('team/puller'), 1, 'one exchange: for the allowed namespace only');
    assert.ok(metricValue(await controller.metricsText(), 'kube_regcred_errors_total', { code: 'NamespaceNotAllowed' }) >= 1);
  });

  it('revokes and restores with a Namespace label change', async () => {
    await bed.kube.core.patchNamespace({ name: labelled, body: [{ op: 'add', path: '/metadata/labels', value: { [LABEL]: 'allowed' } }] });
    await bed.kube.createPullSecret(labelled, 'pull-secret', { 'kube-regcred.io/identity': 'shared/puller' }, JSON.stringify({ auths: { 'keep.example': { auth: 'a2VlcDptZQ==' } } }));
    const first = await filled(labelled);

    await bed.kube.core.patchNamespace({ name: labelled, body: [{ op: 'remove', path: `/metadata/labels/${LABEL}` }] });
    const config = await emptied(labelled);
    assert.deepEqual(config.auths?.['keep.example'], { auth: 'a2VlcDptZQ==' }, 'other entries are kept');
    await waitFor(async () => (await bed.kube.events(labelled, 'pull-secret')).some((e) => e.reason === 'TokenRevoked'), { description: 'a TokenRevoked Event' });
    const revoked = await bed.kube.secret(labelled, 'pull-secret');
    assert.equal(revoked?.metadata?.annotations?.['kube-regcred.io/expires-at'], undefined, 'expires-at removed with the token');
    assert.match(revoked?.metadata?.annotations?.['kube-regcred.io/last-error'] ?? '', /^NamespaceNotAllowed:/);
    assert.equal(metricValue(await controller.metricsText(), 'kube_regcred_token_revocations_total'), 1);

    await bed.kube.core.patchNamespace({ name: labelled, body: [{ op: 'add', path: `/metadata/labels/${LABEL}`, value: 'allowed' }] });
    const restored = await filled(labelled);
    assert.equal(restored, first, 'the cached token of the identity is written back (still fresh), no new exchange');
    await waitFor(async () => (await bed.kube.secret(labelled, 'pull-secret'))?.metadata?.annotations?.['kube-regcred.io/last-error'] === undefined, {
      description: 'last-error cleared after the restore',
    });
  });

  it('takes a policy reload into effect without a restart', async () => {
    writeFileSync(policyPath, policy([refused]));
    await filled(refused);
    await waitFor(async () => (await bed.kube.events(refused, 'pull-secret')).some((e) => e.reason === 'Recovered'), { description: 'Recovered Event' });
    assert.ok(metricValue(await controller.metricsText(), 'kube_regcred_policy_reloads_total', { result: 'success' }) >= 1);

    // A broken policy is refused and the one in force stays: the Secret keeps its token.
    writeFileSync(policyPath, 'identities: [{uid: oops}]\n');
    await waitFor(async () => metricValue(await controller.metricsText(), 'kube_regcred_policy_reloads_total', { result: 'failure' }) >= 1, {
      description: 'the broken policy counted as a failed reload',
    });
    assert.ok(tokenOf(await bed.kube.secret(refused, 'pull-secret')), 'token kept under the previous policy');

    writeFileSync(policyPath, policy([]));
    await emptied(refused);
  });

  it('refreshes at once when the identity annotation changes under a good token', async () => {
    const before = await bed.kube.secret(allowed, 'pull-secret');
    const oldToken = tokenOf(before)!;
    assert.equal(before?.metadata?.annotations?.['kube-regcred.io/token-for'], `identity=team/puller,registry=${REGISTRY}`);
    await bed.kube.core.patchNamespacedSecret({
      namespace: allowed,
      name: 'pull-secret',
      body: [{ op: 'replace', path: '/metadata/annotations/kube-regcred.io~1identity', value: 'team/puller-2' }],
    });
    const fresh = await waitFor(async () => {
      const token = tokenOf(await bed.kube.secret(allowed, 'pull-secret'));
      return token && token !== oldToken ? token : undefined;
    }, { description: 'a token for the new identity', timeoutMs: 10_000 });
    const sub = JSON.parse(Buffer.from(fresh.split('.')[1]!, 'base64url').toString('utf8')).sub as string;
    assert.equal(sub, 'team/puller-2');
    const after = await bed.kube.secret(allowed, 'pull-secret');
    assert.equal(after?.metadata?.annotations?.['kube-regcred.io/token-for'], `identity=team/puller-2,registry=${REGISTRY}`);
  });
});
