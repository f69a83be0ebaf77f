// The identity policy: which namespaces may use which identity UID, and for what (pull, push). Parsed
// and validated from YAML once per file version; evaluated purely per Secret.
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { RegcredError } from '../errors.ts';
import type { LabelSelector } from './label-selector.ts';
import { scopeAllowsNamespace, validateNamespaceScope } from './namespace-match.ts';
import { validatePassthroughRule, type PassthroughRule } from './passthrough-policy.ts';
import { isPlainObject } from '../plain-object.ts';

/** What a Secret uses an identity for: a pull secret or a push secret. */
export type Use = 'pull' | 'push';
const USES: readonly Use[] = ['pull', 'push'];

/** One entry of the file. Several entries may name the same UID: any of them allowing is enough. */
export interface PolicyRule {
  uid: string;
  uses: readonly Use[];
  /** Namespace names or globs (`*` any run of characters, `?` one character). */
  namespaces?: readonly string[];
  namespaceSelector?: LabelSelector;
}

export interface IdentityPolicy {
  rules: readonly PolicyRule[];
  /** Which namespaces may get a pass-through token of which audience; empty: pass-through nowhere. */
  passthrough: readonly PassthroughRule[];
  /** sha256 of the file text: a reload of identical content changes nothing. */
  fingerprint: string;
}

export interface AccessRequest {
  identity: string;
  use: Use;
  namespace: string;
  /** The namespace's labels from the Namespace informer; undefined when it is not (yet) known. */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
}

export type AccessDecision = { allowed: true } | { allowed: false; error: RegcredError };


function validateRule(raw: unknown, path: string, problems: string[]): PolicyRule | undefined {
  if (!isPlainObject(raw)) {
    problems.push(`${path}: must be a mapping`);
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (!['uid', 'uses', 'namespaces', 'namespaceSelector'].includes(key)) problems.push(`${path}.${key}: unknown field`);
  }
  const before = problems.length;
  const uid = raw.uid;
  if (typeof uid !== 'string' || uid.trim() === '') problems.push(`${path}.uid: required, the identity UID`);
  let uses: Use[] = ['pull'];
  if (raw.uses !== undefined) {
    if (!Array.isArray(raw.uses) || raw.uses.length === 0 || !raw.uses.every((u) => USES.includes(u as Use))) {
      problems.push(`${path}.uses: a non-empty list of pull, push`);
    } else {
      uses = [...new Set(raw.uses as Use[])];
    }
  }
  const scope = validateNamespaceScope(raw, path, problems);
  if (problems.length > before) return undefined;
  return { uid: uid as string, uses, ...scope };
}

/**
 * Parses the policy file. Throws RegcredError ConfigInvalid listing every problem with its path.
 * One UID may not be allowed both pull and push: pull and push always come from different identities.
 */
export function parseIdentityPolicy(text: string): IdentityPolicy {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new RegcredError('ConfigInvalid', `identity policy is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const problems: string[] = [];
  if (!isPlainObject(raw)) throw new RegcredError('ConfigInvalid', 'identity policy: must be a mapping with an `identities` list');
  for (const key of Object.keys(raw)) if (key !== 'identities' && key !== 'passthrough') problems.push(`${key}: unknown field`);
  if (!Array.isArray(raw.identities)) problems.push('identities: required, a list');
  if (raw.passthrough !== undefined && !Array.isArray(raw.passthrough)) problems.push('passthrough: a list');
  const passthrough = (Array.isArray(raw.passthrough) ? raw.passthrough : [])
    .map((entry, i) => {
      if (isPlainObject(entry)) return validatePassthroughRule(entry, `passthrough[${i}]`, problems);
      problems.push(`passthrough[${i}]: must be a mapping`);
      return undefined;
    })
    .filter((rule): rule is PassthroughRule => rule !== undefined);
  const rules = (Array.isArray(raw.identities) ? raw.identities : [])
    .map((entry, i) => validateRule(entry, `identities[${i}]`, problems))
    .filter((rule): rule is PolicyRule => rule !== undefined);
  const usesByUid = new Map<string, Set<Use>>();
  for (const rule of rules) {
    const uses = usesByUid.get(rule.uid) ?? new Set<Use>();
    for (const use of rule.uses) uses.add(use);
    usesByUid.set(rule.uid, uses);
  }
  for (const [uid, uses] of usesByUid) {
    if (uses.size > 1) problems.push(`identity ${uid}: allowed both pull and push; use separate identities for pulling and pushing`);
  }
  if (problems.length > 0) throw new RegcredError('ConfigInvalid', `identity policy: ${problems.join('; ')}`);
  return { rules, passthrough, fingerprint: createHash('sha256').update(text).digest('hex') };
}

function ruleAllowsNamespace(rule: PolicyRule, request: AccessRequest): boolean {
  return scopeAllowsNamespace(rule, request.namespace, request.namespaceLabels);
}

/**
 * May `request.namespace` use `request.identity` for `request.use`? Without a policy (undefined), pull is
 * allowed everywhere (Chainguard's behaviour) and push nowhere: push rights are only ever given on purpose.
 * The error (NamespaceNotAllowed, permanent) says which check failed, naming only the identity,
 * namespace and use: all already visible on the Secret.
 */
export function evaluateAccess(policy: IdentityPolicy | undefined, request: AccessRequest): AccessDecision {
  const deny = (message: string): AccessDecision => ({ allowed: false, error: new RegcredError('NamespaceNotAllowed', message) });
  if (policy === undefined) {
    if (request.use === 'pull') return { allowed: true };
    return deny(`push secrets need an identity policy that allows identity ${request.identity} to push (--identity-policy)`);
  }
  const rules = policy.rules.filter((rule) => rule.uid === request.identity);
  if (rules.length === 0) return deny(`identity ${request.identity} is not in the identity policy`);
  const forUse = rules.filter((rule) => rule.uses.includes(request.use));
  if (forUse.length === 0) return deny(`identity ${request.identity} may not be used to ${request.use} (identity policy)`);
  if (forUse.some((rule) => ruleAllowsNamespace(rule, request))) return { allowed: true };
  return deny(`namespace ${request.namespace} may not use identity ${request.identity} to ${request.use} (identity policy)`);
}
