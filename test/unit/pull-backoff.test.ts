// Which attached pull secrets a stuck Pod lacks (pure).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { missingAttachedSecrets } from '../../src/controller/pull-backoff.ts';
import { isPullStuck } from '../../src/kube/pull-backoff-pods.ts';
import type { SecretObject } from '../../src/kube/secret-informer.ts';

const secret = (name: string, annotations: Record<string, string>, overrides: Partial<SecretObject> = {}): SecretObject => ({
  namespace: 'ns', name, uid: undefined, resourceVersion: '1', type: 'kubernetes.io/dockerconfigjson', data: {}, inputDigest: '',
  annotations: { 'kube-regcred.io/identity': 'id', ...annotations }, ...overrides,
});
const pod = { namespace: 'ns', name: 'p', uid: 'u', serviceAccountName: 'app', imagePullSecrets: ['already'] };

describe('missingAttachedSecrets', () => {
  it('names attached pull secrets of the Pod ServiceAccount that the Pod lacks, and nothing else', () => {
    const secrets = [
      secret('a', { 'kube-regcred.io/attach-to': 'default, app' }),
      secret('already', { 'kube-regcred.io/attach-to': 'app' }),
      secret('other-sa', { 'kube-regcred.io/attach-to': 'builder' }),
      secret('not-attached', {}),
      secret('elsewhere', { 'kube-regcred.io/attach-to': 'app' }, { namespace: 'other' }),
      secret('push', { 'kube-regcred.io/attach-to': 'app', 'kube-regcred.io/access': 'push' }, { type: 'Opaque' }),
      secret('broken', { 'kube-regcred.io/attach-to': 'App!' }),
    ];
    assert.deepEqual(missingAttachedSecrets(pod, secrets), ['a']);
  });
});

describe('isPullStuck', () => {
  it('recognises ErrImagePull and ImagePullBackOff, in init containers too', () => {
    const waiting = (reason: string) => ({ name: 'c', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason } } });
    assert.equal(isPullStuck({ status: { containerStatuses: [waiting('ImagePullBackOff')] } }), true);
    assert.equal(isPullStuck({ status: { initContainerStatuses: [waiting('ErrImagePull')] } }), true);
    assert.equal(isPullStuck({ status: { containerStatuses: [waiting('ContainerCreating')] } }), false);
    assert.equal(isPullStuck({}), false);
  });
});
