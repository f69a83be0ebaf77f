// The one test every parser of untrusted JSON or YAML uses before reading fields from a value.

/** True for a mapping (`{...}`): not null, not an array, not a primitive. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
