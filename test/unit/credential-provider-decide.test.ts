import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideProviderTarget, registryOfImage, type ProviderDecision } from '../../src/credential-provider/decide.ts';
import { unsignedJwt } from '../support/unsigned-jwt.ts';

const AUD = 'kube-regcred-sts';
const token = (sub: unknown, aud: unknown = [AUD]) => unsignedJwt({ sub, aud, exp: 2_000_000_000 });
const APP = token('system:serviceaccount:team-a:app');

function rejected(decision: ProviderDecision): string {
  assert.equal(decision.kind, 'reject');
  return `${decision.error.code}: ${decision.error.message}`;
}

describe('registryOfImage', () => {
  it('reads the host the way the kubelet and containerd do', () => {
    assert.equal(registryOfImage('127.0.0.1:5000/apps/web'), '127.0.0.1:5000');
    assert.equal(registryOfImage('cgr.dev/chainguard/static'), 'cgr.dev');
    assert.equal(registryOfImage('CGR.dev/x'), 'cgr.dev');
    assert.equal(registryOfImage('localhost/x'), 'localhost');
    assert.equal(registryOfImage('library/nginx'), 'docker.io');
    assert.equal(registryOfImage('nginx'), 'docker.io');
  });
});

describe('decideProviderTarget', () => {
  const image = 'registry.example:5000/apps/web';

  it('uses the identity annotation for the registry of the image', () => {
    const decision = decideProviderTarget({ image, serviceAccountToken: APP, serviceAccountAnnotations: { 'kube-regcred.io/identity': 'builder' } }, { audience: AUD });
    assert.deepEqual(decision, {
      kind: 'exchange', identity: 'builder', registry: 'registry.example:5000', serviceAccount: { namespace: 'team-a', name: 'app' }, subjectToken: APP, identityFrom: 'annotation',
    });
  });

  it("accepts Chainguard pull-secret-updater's annotation name, and refuses the two when they differ", () => {
    const alias = decideProviderTarget({ image, serviceAccountToken: APP, serviceAccountAnnotations: { 'pull-secret-updater.chainguard.dev/identity': 'abc/def' } }, { audience: AUD });
    assert.equal(alias.kind === 'exchange' && alias.identity, 'abc/def');
    const both = { 'kube-regcred.io/identity': 'a', 'pull-secret-updater.chainguard.dev/identity': 'b' };
    assert.match(rejected(decideProviderTarget({ image, serviceAccountToken: APP, serviceAccountAnnotations: both }, { audience: AUD })), /^IdentityInvalid: .*differ/);
  });

  it('applies the annotation only to the registry kube-regcred.io/registry names', () => {
    const annotations = { 'kube-regcred.io/identity': 'builder', 'kube-regcred.io/registry': 'cgr.dev' };
    assert.match(rejected(decideProviderTarget({ image, serviceAccountToken: APP, serviceAccountAnnotations: annotations }, { audience: AUD })), /^IdentityInvalid: ServiceAccount team-a\/app has no kube-regcred.io\/identity annotation for registry.example:5000/);
    const onCgr = decideProviderTarget({ image: 'cgr.dev/org/img', serviceAccountToken: APP, serviceAccountAnnotations: annotations }, { audience: AUD });
    assert.equal(onCgr.kind === 'exchange' && onCgr.identity, 'builder');
    const templated = decideProviderTarget({ image, serviceAccountToken: APP, serviceAccountAnnotations: annotations }, { audience: AUD, identityTemplate: 'ns/{namespace}' });
    assert.equal(templated.kind === 'exchange' && templated.identity, 'ns/team-a');
  });

  it('fills the identity template from the token subject when there is no annotation', () => {
    const decision = decideProviderTarget({ image, serviceAccountToken: APP }, { audience: AUD, identityTemplate: '{namespace}/{serviceAccount}' });
    assert.equal(decision.kind === 'exchange' && decision.identity, 'team-a/app');
    assert.equal(decision.kind === 'exchange' && decision.identityFrom, 'template');
  });

  it('refuses a template that yields no valid UID, and a malformed annotation', () => {
    assert.match(rejected(decideProviderTarget({ image, serviceAccountToken: APP }, { audience: AUD, identityTemplate: 'id {namespace}' })), /^IdentityInvalid/);
    assert.match(rejected(decideProviderTarget({ image, serviceAccountToken: APP, serviceAccountAnnotations: { 'kube-regcred.io/identity': 'a&b=c' } }, { audience: AUD })), /^IdentityInvalid/);
  });

  it('explains a provider config without tokenAttributes, or with another audience', () => {
    assert.match(rejected(decideProviderTarget({ image }, { audience: AUD })), /^RequestInvalid: the kubelet sent no ServiceAccount token .*tokenAttributes/);
    assert.match(rejected(decideProviderTarget({ image, serviceAccountToken: token('system:serviceaccount:a:b', 'other') }, { audience: AUD, identityTemplate: 'x' })), /lacks audience kube-regcred-sts/);
    const single = decideProviderTarget({ image, serviceAccountToken: token('system:serviceaccount:a:b', AUD) }, { audience: AUD, identityTemplate: 'x' });
    assert.equal(single.kind, 'exchange', 'a single-string aud counts too');
  });

  it('refuses tokens that are not ServiceAccount tokens', () => {
    for (const bad of ['not-a-jwt', token('alice'), token('system:serviceaccount:only-ns'), token('system:serviceaccount::x'), token(7)]) {
      assert.match(rejected(decideProviderTarget({ image, serviceAccountToken: bad }, { audience: AUD, identityTemplate: 'x' })), /^RequestInvalid: serviceAccountToken/);
    }
  });
});
