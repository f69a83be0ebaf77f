// planFailure / planRecovery (pure): what a failed reconcile does, as a table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ANNOTATIONS, formatLastError } from '../../src/annotations.ts';
import { RegcredError, type ErrorCode } from '../../src/errors.ts';
import { EVENT_REASONS } from '../../src/kube/events.ts';
import { lastUsefulInstant } from '../../src/controller/retry-delay.ts';
import { planFailure, planRecovery, type FailureInput, type FailurePlan } from '../../src/controller/failure-plan.ts';

const EXP = new Date('2026-11-23T10:00:00Z');
const err = (code: ErrorCode) => new RegcredError(code, `${code} happened`);
const lastErrorOf = (code: ErrorCode) => formatLastError(err(code));
const statusOf = (code: ErrorCode) => ({ [ANNOTATIONS.lastError]: lastErrorOf(code) });

interface Row {
  name: string;
  input: Omit<FailureInput, 'error'> & { code: ErrorCode };
  expected: (error: RegcredError) => FailurePlan;
}

const rows: Row[] = [
  {
    name: 'a new transient exchange failure: backoff until before exp, woken by the token key, Event and last-error',
    input: { code: 'StsServerError', reported: undefined, lastError: undefined, usefulUntil: EXP, waitingFor: 'k' },
    expected: (error) => ({
      outcome: { kind: 'transient', error, usefulUntil: lastUsefulInstant(EXP), waitingFor: 'k' },
      counted: true,
      reported: 'StsServerError',
      event: { reason: EVENT_REASONS.ExchangeFailed, message: lastErrorOf('StsServerError') },
      status: statusOf('StsServerError'),
    }),
  },
  {
    name: 'the same failure again (reported in memory): no second Event; last-error already there, not rewritten',
    input: { code: 'StsServerError', reported: 'StsServerError', lastError: lastErrorOf('StsServerError') },
    expected: (error) => ({ outcome: { kind: 'transient', error }, counted: true, reported: 'StsServerError' }),
  },
  {
    name: 'after a restart the last-error annotation stands for the Event already on the Secret',
    input: { code: 'StsServerError', reported: undefined, lastError: lastErrorOf('StsServerError') },
    expected: (error) => ({ outcome: { kind: 'transient', error }, counted: true, reported: 'StsServerError' }),
  },
  {
    name: 'a different failure than the one reported: a new Event and last-error',
    input: { code: 'StsForbidden', reported: 'StsServerError', lastError: lastErrorOf('StsServerError') },
    expected: (error) => ({
      outcome: { kind: 'permanent', error },
      counted: true,
      reported: 'StsForbidden',
      event: { reason: EVENT_REASONS.ExchangeFailed, message: lastErrorOf('StsForbidden') },
      status: statusOf('StsForbidden'),
    }),
  },
  {
    name: 'a last-error without a code: the failure is new',
    input: { code: 'IdentityInvalid', reported: undefined, lastError: 'something odd' },
    expected: (error) => ({
      outcome: { kind: 'permanent', error },
      counted: true,
      reported: 'IdentityInvalid',
      event: { reason: EVENT_REASONS.InvalidSecret, message: lastErrorOf('IdentityInvalid') },
      status: statusOf('IdentityInvalid'),
    }),
  },
  {
    name: 'a write conflict: retried (before exp), counted, never reported',
    input: { code: 'KubeConflict', reported: undefined, lastError: undefined, usefulUntil: EXP },
    expected: (error) => ({ outcome: { kind: 'transient', error, usefulUntil: lastUsefulInstant(EXP) }, counted: true }),
  },
  {
    name: 'a write outside the RBAC grant: forbidden, an Event, but no status patch (it would be refused too)',
    input: { code: 'KubeForbidden', reported: undefined, lastError: undefined },
    expected: (error) => ({
      outcome: { kind: 'forbidden', error },
      counted: true,
      reported: 'KubeForbidden',
      event: { reason: EVENT_REASONS.WriteForbidden, message: lastErrorOf('KubeForbidden') },
    }),
  },
  {
    name: 'TokenRequest outside the grant: forbidden, Event and last-error',
    input: { code: 'TokenRequestForbidden', reported: undefined, lastError: undefined },
    expected: (error) => ({
      outcome: { kind: 'forbidden', error },
      counted: true,
      reported: 'TokenRequestForbidden',
      event: { reason: EVENT_REASONS.ExchangeFailed, message: lastErrorOf('TokenRequestForbidden') },
      status: statusOf('TokenRequestForbidden'),
    }),
  },
  {
    name: 'leadership lost mid-reconcile: nothing counted or reported, no timer',
    input: { code: 'NotLeader', reported: 'StsServerError', lastError: undefined, usefulUntil: EXP },
    expected: () => ({ outcome: { kind: 'ignore' }, counted: false }),
  },
  {
    name: 'a policy refusal: permanent, NotAllowed',
    input: { code: 'NamespaceNotAllowed', reported: undefined, lastError: undefined },
    expected: (error) => ({
      outcome: { kind: 'permanent', error },
      counted: true,
      reported: 'NamespaceNotAllowed',
      event: { reason: EVENT_REASONS.NotAllowed, message: lastErrorOf('NamespaceNotAllowed') },
      status: statusOf('NamespaceNotAllowed'),
    }),
  },
  {
    name: 'a failed Secret write: WriteFailed',
    input: { code: 'KubeUnavailable', reported: undefined, lastError: undefined },
    expected: (error) => ({
      outcome: { kind: 'transient', error },
      counted: true,
      reported: 'KubeUnavailable',
      event: { reason: EVENT_REASONS.WriteFailed, message: lastErrorOf('KubeUnavailable') },
      status: statusOf('KubeUnavailable'),
    }),
  },
];

describe('planFailure', () => {
  for (const row of rows) {
    it(row.name, () => {
      const { code, ...rest } = row.input;
      const error = err(code);
      assert.deepEqual(planFailure({ ...rest, error }), row.expected(error));
    });
  }
});

describe('planRecovery', () => {
  it('marks the end of a failure reported in memory and clears the last-error', () => {
    assert.deepEqual(planRecovery('StsServerError', lastErrorOf('StsServerError')), {
      clearLastError: true,
      event: { reason: EVENT_REASONS.Recovered, message: 'the Secret holds a valid registry token again (last error: StsServerError)' },
    });
  });

  it('after a restart, reads the failure from the last-error annotation', () => {
    assert.equal(planRecovery(undefined, lastErrorOf('StsForbidden')).event?.message, 'the Secret holds a valid registry token again (last error: StsForbidden)');
  });

  it('a conflict (never reported) leaves nothing to recover from', () => {
    assert.deepEqual(planRecovery(undefined, undefined), { clearLastError: false });
  });
});
