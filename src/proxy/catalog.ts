// GET /v2/_catalog through the proxy: the repositories the token may pull that exist upstream, with
// the spec's `n`/`last` pagination. Built from the token's grants, not from the upstream's whole
// catalog, so the answer never lists a repository the caller may not see, and its cost is bounded
// by the token's size rather than the registry's.
import PQueue from 'p-queue';
import { pullableRepositories, type TokenAccess } from './access.ts';

export interface CatalogPage {
  repositories: string[];
  /** The `last` of the next page, when there is one. */
  next?: string;
}

/** Pure: one page of a sorted list, as the distribution spec paginates (entries after `last`, at most `n`). */
export function paginate(sorted: readonly string[], n: number | undefined, last: string | undefined): CatalogPage {
  const after = last === undefined ? sorted : sorted.filter((name) => name > last);
  if (n === undefined || after.length <= n) return { repositories: [...after] };
  if (n === 0) return { repositories: [] };
  const repositories = after.slice(0, n);
  return { repositories, next: repositories[repositories.length - 1]! };
}

/** `n` and `last` from the query; undefined `n` for an absent or unusable value (the whole list). */
export function catalogQuery(query: URLSearchParams): { n: number | undefined; last: string | undefined } {
  const raw = query.get('n');
  const n = raw !== null && /^\d{1,6}$/.test(raw) ? Number(raw) : undefined;
  return { n, last: query.get('last') ?? undefined };
}

/**
 * The pullable repositories that exist upstream (a tags/list answering 200), checked a few at a
 * time. A check that fails leaves the repository out rather than failing the whole catalog.
 */
export async function existingRepositories(access: TokenAccess, exists: (repository: string) => Promise<boolean>, concurrency = 8): Promise<string[]> {
  const queue = new PQueue({ concurrency });
  const candidates = pullableRepositories(access);
  const found = await Promise.all(candidates.map((name) => queue.add(() => exists(name).catch(() => false))));
  return candidates.filter((_, i) => found[i] === true);
}
