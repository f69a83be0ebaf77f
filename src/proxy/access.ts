// What a verified registry token allows (pure): its `access` claim read strictly, the check of one
// action on one repository, and the scope a challenge asks for.
import type { RequiredAction } from './routes.ts';

/** The `access` claim, reduced to repository entries; anything else in it grants nothing here. */
export type TokenAccess = ReadonlyMap<string, ReadonlySet<string>>;

const MAX_ENTRIES = 256;

/** Reads the claim; malformed entries are skipped (they can only grant less), not trusted. */
export function parseAccessClaim(claim: unknown): TokenAccess {
  const access = new Map<string, Set<string>>();
  if (!Array.isArray(claim)) return access;
  for (const entry of claim.slice(0, MAX_ENTRIES)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, name, actions } = entry as { type?: unknown; name?: unknown; actions?: unknown };
    if (type !== 'repository' || typeof name !== 'string' || !Array.isArray(actions)) continue;
    let set = access.get(name);
    if (!set) access.set(name, (set = new Set()));
    for (const action of actions) if (typeof action === 'string') set.add(action);
  }
  return access;
}

/** `*` grants every action, as Distribution's token access controller reads it. */
export function allows(access: TokenAccess, repository: string, action: RequiredAction): boolean {
  const actions = access.get(repository);
  return actions !== undefined && (actions.has(action) || actions.has('*'));
}

/** The scope a client should ask the token service for, to make `action` on `repository` work. */
export function scopeFor(repository: string, action: RequiredAction): string {
  // Pushing clients read manifests and blobs as well (existence checks), so ask for both, as docker does.
  return `repository:${repository}:${action === 'push' ? 'pull,push' : action}`;
}

/** Repositories the token may pull, sorted, for the catalog. */
export function pullableRepositories(access: TokenAccess): string[] {
  return [...access.keys()].filter((name) => allows(access, name, 'pull')).sort();
}
