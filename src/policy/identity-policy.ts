// The identity policy: which namespaces may use which identity UID, and for what (pull, push). Parsed
// and validated from YAML once per file version; evaluated purely per Secret.
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { RegcredError } from '../errors.ts';
import { matchesLabelSelector, validateLabelSelector, type LabelSelector } from './label-selector.ts';

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

const MAX_GLOB_LENGTH = 253;

/** Namespace globs: names have no separators, so `*` is any run of characters. Anchored, no backtracking blow-up. */
function compileNamespaceGlob(pattern: string): RegExp {
  const source = pattern.replace(/[.+^${}()|[\]\\/-]/g, '\\$&').replace(/\*+/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`);
}

const compiledGlobs = new WeakMap<PolicyRule, RegExp[]>();
function globsOf(rule: PolicyRule): RegExp[] {
  let globs = compiledGlobs.get(rule);
  if (!globs) {
    globs = (rule.namespaces ?? []).map(compileNamespaceGlob);
    compiledGlobs.set(rule, globs);
  }
  return globs;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

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
  let namespaces: string[] | undefined;
  if (raw.namespaces !== undefined) {
    if (!Array.isArray(raw.namespaces) || !raw.namespaces.every((n) => typeof n === 'string' && n !== '' && n.length <= MAX_GLOB_LENGTH)) {
      problems.push(`${path}.namespaces: a list of namespace names or globs`);
    } else {
      namespaces = raw.namespaces as string[];
    }
  }
  const selector = raw.namespaceSelector === undefined ? undefined : validateLabelSelector(raw.namespaceSelector, `${path}.namespaceSelector`, problems);
  if (raw.namespaces === undefined && raw.namespaceSelector === undefined) {
    // An entry with neither would allow every namespace: say `namespaces: ["*"]` if that is meant.
    problems.push(`${path}: set namespaces, namespaceSelector or both (namespaces: ["*"] allows all)`);
  }
  if (problems.length > before) return undefined;
  return { uid: uid as string, uses, ...(namespaces ? { namespaces } : {}), ...(selector ? { namespaceSelector: selector } : {}) };
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
  for (const key of Object.keys(raw)) if (key !== 'identities') problems.push(`${key}: unknown field`);
  if (!Array.isArray(raw.identities)) problems.push('identities: required, a list');
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
  return { rules, fingerprint: createHash('sha256').update(text).digest('hex') };
}

function ruleAllowsNamespace(rule: PolicyRule, request: AccessRequest): boolean {
  if (rule.namespaces !== undefined && !globsOf(rule).some((glob) => glob.test(request.namespace))) return false;
  if (rule.namespaceSelector !== undefined) {
    // Unknown labels match no selector: an unknown namespace must not be given the benefit of the doubt.
    if (request.namespaceLabels === undefined) return false;
    if (!matchesLabelSelector(rule.namespaceSelector, request.namespaceLabels)) return false;
  }
  return true;
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
