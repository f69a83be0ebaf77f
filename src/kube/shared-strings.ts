// One copy of the strings (and small frozen string maps) that repeat across tens of thousands of
// cached Secrets (namespaces, names like `pull-secret`, identity and token-for values, registry hosts),
// where JSON.parse makes a new one per Secret. Bounded: past the bound strings are simply not shared, so a tenant inventing values grows
// nothing but its own Secrets' copies.
const shared = new Map<string, string>();
const MAX_SHARED = 16_384;
/** Longer strings are rarely repeated (a tenant's own annotations are not kept at all). */
const MAX_LENGTH = 256;

export function share(value: string): string {
  const known = shared.get(value);
  if (known !== undefined) return known;
  if (shared.size < MAX_SHARED && value.length <= MAX_LENGTH) shared.set(value, value);
  return value;
}

const sharedMaps = new Map<string, Readonly<Record<string, string>>>();

/**
 * One frozen copy of a small string map that repeats (a Secret's own annotations: the same identity and
 * token-for across a namespace's Secrets). Maps with the same entries in another order are two copies.
 */
export function shareMap(map: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const key = JSON.stringify(map);
  const known = sharedMaps.get(key);
  if (known !== undefined) return known;
  const frozen = Object.freeze({ ...map });
  if (sharedMaps.size < MAX_SHARED && key.length <= 4 * MAX_LENGTH) sharedMaps.set(key, frozen);
  return frozen;
}
