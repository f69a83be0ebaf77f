// What a failed reconcile does, decided purely: the Outcome for the queue, whether it is counted, which
// Event (if any) marks it, and what last-error to write. Events mark transitions, never retries: the
// failure already reported for the key (in memory, or after a restart its last-error annotation)
// suppresses a second one. The reconciler applies the plan; this file holds the policy.
import { formatLastError, formatStatus } from '../annotations.ts';
import type { ErrorCode, RegcredError } from '../errors.ts';
import { EVENT_REASONS, type EventReason } from '../kube/events.ts';
import { lastUsefulInstant } from './retry-delay.ts';
import type { Outcome } from './outcome.ts';

export interface FailureInput {
  error: RegcredError;
  /** The failure code this process last reported by Event for the Secret, if any. */
  reported: string | undefined;
  /** The Secret's last-error annotation as read. */
  lastError: string | undefined;
  /** The `exp` of the token the Secret still holds: a transient retry comes before it. */
  usefulUntil?: Date | undefined;
  /** The token key whose exchange failed (the Secret is woken when one arrives). */
  waitingFor?: string | undefined;
}

export interface FailurePlan {
  outcome: Outcome;
  /** Counted in errors_total and logged as a failure (not when leadership was lost mid-reconcile). */
  counted: boolean;
  /** The failure code to remember as reported for the Secret; undefined: leave the memory as it is. */
  reported?: string;
  /** A Warning Event to record: the failure is new for this Secret. */
  event?: { reason: EventReason; message: string };
  /** Status annotations to write (last-error), when they differ from what the Secret holds. */
  status?: Record<string, string | null>;
}

/** Codes that mean "the RBAC grant does not cover this": a long retry, not a backoff storm. */
const FORBIDDEN: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['KubeForbidden', 'TokenRequestForbidden']);

export function planFailure(input: FailureInput): FailurePlan {
  const { error } = input;
  // Leadership was lost during the reconcile: a follower reports nothing and sets no timer.
  if (error.code === 'NotLeader') return { outcome: { kind: 'ignore' }, counted: false };
  const outcome = outcomeOf(input);
  // A lost optimistic-concurrency race is routine: retried on the fresh object, never reported.
  if (error.code === 'KubeConflict') return { outcome, counted: true };
  const value = formatLastError(error);
  const previous = input.reported ?? codeOfLastError(input.lastError);
  const plan: FailurePlan = { outcome, counted: true, reported: error.code };
  if (previous !== error.code) plan.event = { reason: eventReasonFor(error.code), message: value };
  // A Secret we may not write cannot take a status patch either; the Event is all we can leave.
  if (error.code !== 'KubeForbidden' && input.lastError !== value) plan.status = formatStatus({ error });
  return plan;
}

function outcomeOf(input: FailureInput): Outcome {
  const { error } = input;
  if (FORBIDDEN.has(error.code)) return { kind: 'forbidden', error };
  if (!error.transient) return { kind: 'permanent', error };
  return {
    kind: 'transient',
    error,
    ...(input.usefulUntil ? { usefulUntil: lastUsefulInstant(input.usefulUntil) } : {}),
    ...(input.waitingFor !== undefined ? { waitingFor: input.waitingFor } : {}),
  };
}

export interface RecoveryPlan {
  /** A Normal Event saying the failure is over, when one had been reported. */
  event?: { reason: EventReason; message: string };
  /** The Secret carries a last-error that must be cleared. */
  clearLastError: boolean;
}

/** After a success: the reported failure (if any) is over; the memory of it is dropped by the caller. */
export function planRecovery(reported: string | undefined, lastError: string | undefined): RecoveryPlan {
  const previous = reported ?? codeOfLastError(lastError);
  const plan: RecoveryPlan = { clearLastError: lastError !== undefined };
  if (previous !== undefined) {
    plan.event = { reason: EVENT_REASONS.Recovered, message: `the Secret holds a valid registry token again (last error: ${previous})` };
  }
  return plan;
}

/** The Event reason for a failure, by the error's code. */
export function eventReasonFor(code: ErrorCode): EventReason {
  switch (code) {
    case 'IdentityInvalid':
    case 'RegistryInvalid':
    case 'RegistryNotConfigured':
    case 'DockerConfigInvalid':
    case 'DockerConfigTooLarge':
    case 'AccessInvalid':
    case 'ServiceAccountInvalid':
      return EVENT_REASONS.InvalidSecret;
    case 'NamespaceNotAllowed':
      return EVENT_REASONS.NotAllowed;
    case 'KubeForbidden':
      return EVENT_REASONS.WriteForbidden;
    case 'KubeConflict':
    case 'KubeNotFound':
    case 'KubeUnavailable':
    case 'KubeInvalid':
    case 'Internal':
      return EVENT_REASONS.WriteFailed;
    default:
      return EVENT_REASONS.ExchangeFailed;
  }
}

/** The code recorded in a last-error annotation value (`<Code>: message`), if it has one. */
export function codeOfLastError(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /^([A-Za-z]+):/.exec(value);
  return match?.[1];
}
