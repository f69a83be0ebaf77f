// Repository grants: compiled patterns and the intersection of requested scopes with them.
import type { Action, GrantConfig } from './config-schema.ts';
import { compileGlob } from '../glob.ts';
import type { AccessEntry, RequestedScope } from './scope.ts';

export interface Grant {
  pattern: string;
  matcher: RegExp;
  actions: ReadonlySet<Action>;
}

export function compileGrants(grants: readonly GrantConfig[]): Grant[] {
  return grants.map((grant) => ({
    pattern: grant.repository,
    matcher: compileGlob(grant.repository, '/'),
    actions: new Set(grant.actions),
  }));
}

/** Union of the actions every matching grant allows on `repository`. */
export function allowedActions(grants: readonly Grant[], repository: string): Set<Action> {
  const allowed = new Set<Action>();
  for (const grant of grants) {
    if (grant.matcher.test(repository)) for (const action of grant.actions) allowed.add(action);
  }
  return allowed;
}

/**
 * What a token may carry: each requested repository keeps only the actions its grants allow
 * (a pull-only identity asking for pull,push gets pull); repositories with nothing left, and
 * non-repository resources, are left out. Duplicate requests for one repository are merged.
 */
export function intersectAccess(requested: readonly RequestedScope[], grants: readonly Grant[]): AccessEntry[] {
  const byName = new Map<string, Set<Action>>();
  for (const scope of requested) {
    if (scope.type !== 'repository') continue;
    const allowed = allowedActions(grants, scope.name);
    for (const action of scope.actions) {
      if (allowed.has(action as Action)) {
        let actions = byName.get(scope.name);
        if (!actions) byName.set(scope.name, (actions = new Set()));
        actions.add(action as Action);
      }
    }
  }
  return [...byName].map(([name, actions]) => ({
    type: 'repository' as const,
    name,
    // A stable order keeps tokens and logs comparable.
    actions: (['pull', 'push'] as const).filter((action) => actions.has(action)),
  }));
}
