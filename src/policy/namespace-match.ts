// Which namespaces a policy entry covers: names or globs, a label selector, or both (both must match).
// Shared by identity rules and pass-through rules so both read a namespace list the same way.
import { compileGlob } from '../glob.ts';
import { matchesLabelSelector, validateLabelSelector, type LabelSelector } from './label-selector.ts';

export interface NamespaceScope {
  /** Namespace names or globs (`*` any run of characters, `?` one character). */
  namespaces?: readonly string[];
  namespaceSelector?: LabelSelector;
}

const MAX_GLOB_LENGTH = 253;

const compiledGlobs = new WeakMap<NamespaceScope, RegExp[]>();
function globsOf(scope: NamespaceScope): RegExp[] {
  let globs = compiledGlobs.get(scope);
  if (!globs) {
    globs = (scope.namespaces ?? []).map((pattern) => compileGlob(pattern));
    compiledGlobs.set(scope, globs);
  }
  return globs;
}

/** Validates `namespaces` / `namespaceSelector` of `raw` (at `path`), pushing problems; requires at least one. */
export function validateNamespaceScope(raw: Record<string, unknown>, path: string, problems: string[]): NamespaceScope {
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
  return { ...(namespaces ? { namespaces } : {}), ...(selector ? { namespaceSelector: selector } : {}) };
}

/** True when `namespace` (with its labels; undefined when unknown) is in the scope. */
export function scopeAllowsNamespace(scope: NamespaceScope, namespace: string, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (scope.namespaces !== undefined && !globsOf(scope).some((glob) => glob.test(namespace))) return false;
  if (scope.namespaceSelector !== undefined) {
    // Unknown labels match no selector: an unknown namespace must not be given the benefit of the doubt.
    if (labels === undefined) return false;
    if (!matchesLabelSelector(scope.namespaceSelector, labels)) return false;
  }
  return true;
}
