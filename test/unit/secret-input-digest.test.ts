// The input digest tells a change to a Secret's type, labels or (non-status) annotations, and must give
// the same answer whether it is computed or remembered for a shared annotation map.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { secretInputDigest } from '../../src/kube/secret-input-digest.ts';

const own = Object.freeze({ 'kube-regcred.io/identity': 'a/b', 'kube-regcred.io/token-for': 'r pull' });
const base = { type: 'kubernetes.io/dockerconfigjson', labels: { team: 'a' }, annotations: own };

describe('secretInputDigest', () => {
  it('remembers nothing that changes the answer: a shared map gives what a copy of it gives', () => {
    const first = secretInputDigest(base);
    assert.equal(secretInputDigest(base), first, 'asked again for the same shared map');
    assert.equal(secretInputDigest({ ...base, annotations: { ...own } }), first, 'a mutable copy, computed');
    assert.equal(secretInputDigest({ ...base, labels: { team: 'a' } }), first, 'equal labels in another object');
  });

  it('changes with the type, the labels, the foreign annotations and the annotations that are not status', () => {
    const first = secretInputDigest(base);
    const others = [
      secretInputDigest({ ...base, type: 'Opaque' }),
      secretInputDigest({ ...base, labels: { team: 'b' } }),
      secretInputDigest({ ...base, labels: {} }),
      secretInputDigest({ ...base, foreignAnnotationsDigest: 'x' }),
      secretInputDigest({ ...base, annotations: Object.freeze({ ...own, 'kube-regcred.io/identity': 'a/c' }) }),
    ];
    for (const other of others) assert.notEqual(other, first);
    assert.equal(new Set(others).size, others.length);
    // The status annotations the controller writes do not count, remembered or not.
    assert.equal(secretInputDigest({ ...base, annotations: Object.freeze({ ...own, 'kube-regcred.io/refreshed-at': 'now' }) }), first);
  });

  it('keeps giving right answers past its bound on one map', () => {
    const digests = new Map<string, string>();
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 40; i++) {
        const digest = secretInputDigest({ ...base, labels: { n: String(i) } });
        if (round === 0) digests.set(String(i), digest);
        else assert.equal(digest, digests.get(String(i)));
      }
    }
    assert.equal(new Set(digests.values()).size, 40);
  });
});
