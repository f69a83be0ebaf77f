// Identities: who (issuer + subject rule + optional CEL condition) may act as which UID, and with
// what grants. Compiled once per configuration; matching is pure.
import type { JWTPayload } from 'jose';
import { RegcredError } from '../errors.ts';
import type { IdentityConfig } from './config-schema.ts';
import { compileCondition, type ClaimsCondition } from './condition.ts';
import { compileGrants, type Grant } from './grants.ts';
import { compileGlob } from '../glob.ts';

export interface Identity {
  uid: string;
  /** Name of the trusted issuer. */
  issuer: string;
  grants: readonly Grant[];
  matchesSubject(subject: string): boolean;
  condition: ClaimsCondition | undefined;
}

export function compileIdentity(config: IdentityConfig): Identity {
  let matchesSubject: (subject: string) => boolean;
  if (config.subject !== undefined) {
    const expected = config.subject;
    matchesSubject = (subject) => subject === expected;
  } else {
    const matcher = compileGlob(config.subjectPattern!, ':');
    matchesSubject = (subject) => matcher.test(subject);
  }
  return {
    uid: config.uid,
    issuer: config.issuer,
    grants: compileGrants(config.grants),
    matchesSubject,
    condition: config.condition === undefined ? undefined : compileCondition(config.condition),
  };
}

/** Subject rule and condition; the issuer is checked by the caller, which knows how it was chosen. */
export function isIdentityMatch(identity: Identity, subject: string, claims: JWTPayload): boolean {
  if (!identity.matchesSubject(subject)) return false;
  return identity.condition === undefined || identity.condition(claims as Record<string, unknown>);
}

/**
 * The identity a verified token may act as when it names one (/sts/exchange `identity=`).
 * Unknown UID and "not yours" are both 403 with distinct codes for metrics, but the message does
 * not say which rule failed: that would help someone probing the policy.
 */
export function authorizeIdentity(
  identities: ReadonlyMap<string, Identity>,
  uid: string,
  issuerName: string,
  subject: string,
  claims: JWTPayload,
): Identity {
  const identity = identities.get(uid);
  if (!identity) throw new RegcredError('IdentityUnknown', 'identity not allowed', { status: 403 });
  if (identity.issuer !== issuerName || !isIdentityMatch(identity, subject, claims)) {
    throw new RegcredError('IdentityMismatch', 'identity not allowed', { status: 403 });
  }
  return identity;
}

/**
 * The identity for a raw OIDC token presented without naming one (Basic auth with an issuer's
 * name): the first identity in file order that trusts this issuer and matches, like firewall rules.
 */
export function findIdentity(identities: readonly Identity[], issuerName: string, subject: string, claims: JWTPayload): Identity {
  const identity = identities.find((candidate) => candidate.issuer === issuerName && isIdentityMatch(candidate, subject, claims));
  if (!identity) throw new RegcredError('IdentityUnknown', 'no identity matches this token', { status: 403 });
  return identity;
}
