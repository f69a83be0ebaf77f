// The pass-through part of the identity policy: which namespaces may get a ServiceAccount token of
// which audience written into their Secrets. Without a policy file, pass-through is off everywhere: such
// a token is the controller's (or a workload's) own identity at that audience, a bigger grant than a
// registry token scoped by an STS.
import { RegcredError } from '../errors.ts';
import { isValidAudience } from '../passthrough-target.ts';
import { scopeAllowsNamespace, validateNamespaceScope, type NamespaceScope } from './namespace-match.ts';

export interface PassthroughRule extends NamespaceScope {
  /** The exact audience (TokenRequest `audiences`) these namespaces may receive. */
  audience: string;
}

export interface PassthroughRequest {
  audience: string;
  namespace: string;
  namespaceLabels: Readonly<Record<string, string>> | undefined;
}

/** One `passthrough:` entry, already known to be a mapping; undefined (and problems) when invalid. */
export function validatePassthroughRule(raw: Record<string, unknown>, path: string, problems: string[]): PassthroughRule | undefined {
  const before = problems.length;
  for (const key of Object.keys(raw)) {
    if (!['audience', 'namespaces', 'namespaceSelector'].includes(key)) problems.push(`${path}.${key}: unknown field`);
  }
  const audience = raw.audience;
  if (typeof audience !== 'string' || !isValidAudience(audience)) {
    problems.push(`${path}.audience: required, an audience (1-253 characters of A-Z a-z 0-9 . _ : / -)`);
  }
  const scope = validateNamespaceScope(raw, path, problems);
  if (problems.length > before) return undefined;
  return { audience: audience as string, ...scope };
}

/** May `request.namespace` get a pass-through token for `request.audience`? No policy: never. */
export function evaluatePassthrough(
  rules: readonly PassthroughRule[] | undefined,
  request: PassthroughRequest,
): { allowed: true } | { allowed: false; error: RegcredError } {
  const deny = (message: string) => ({ allowed: false as const, error: new RegcredError('NamespaceNotAllowed', message) });
  if (rules === undefined) return deny('pass-through needs an identity policy that allows it (--identity-policy, passthrough:)');
  const forAudience = rules.filter((rule) => rule.audience === request.audience);
  if (forAudience.length === 0) return deny(`pass-through audience ${request.audience} is not in the identity policy`);
  if (forAudience.some((rule) => scopeAllowsNamespace(rule, request.namespace, request.namespaceLabels))) return { allowed: true };
  return deny(`namespace ${request.namespace} may not get pass-through tokens for audience ${request.audience} (identity policy)`);
}
