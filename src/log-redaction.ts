// Log fields that may hold secret material, censored before pino writes a line: the second line of
// defence, the first being never to put such material in a field at all.
//
// Not pino's `redact` option: its wildcard paths (`*.token`, which stand for any field's `token`) send
// every field of every line through @pinojs/redact, which clones the value and parses each path again
// per call, strings included. In the bench's cold start that was a tenth of all the bytes the
// controller allocated while it wrote Secrets (one info line per write) and 1.7 % of its CPU
// (docs/controller.md). This walk reads the keys of object fields only and allocates nothing unless it
// finds something to censor.
//
// A child logger's bindings are censored by name at their top level only (pino applies no formatter
// to them, only serializers): nothing binds objects today.

export const LOG_CENSOR = '[redacted]';

/** Field names censored wherever they appear: at the top of a line and in its objects' fields. */
export const SECRET_LOG_KEYS: ReadonlySet<string> = new Set(['token', 'password', 'auth', 'authorization']);

/** A line's fields, their fields and theirs (`req.headers.authorization`); deeper objects are left as they are. */
const MAX_DEPTH = 3;

/**
 * `fields` with the value of every secret-named key replaced by LOG_CENSOR, up to MAX_DEPTH objects
 * deep; `fields` itself when there is none. Nothing is modified: a changed object is a shallow copy
 * (an Error's copy keeps its prototype, message and stack, for pino's error serializer).
 */
export function redactLogFields<T extends object>(fields: T): T {
  return redactObject(fields, 1);
}

function redactObject<T extends object>(value: T, depth: number): T {
  let copy: Record<string, unknown> | undefined;
  const source = value as Record<string, unknown>;
  for (const key in source) {
    if (!Object.hasOwn(source, key)) continue;
    const field = source[key];
    let replacement = field;
    if (SECRET_LOG_KEYS.has(key)) {
      if (field !== undefined) replacement = LOG_CENSOR;
    } else if (depth < MAX_DEPTH && typeof field === 'object' && field !== null && !Array.isArray(field) && !ArrayBuffer.isView(field)) {
      replacement = redactObject(field, depth + 1);
    }
    if (replacement === field) continue;
    copy ??= copyOf(value);
    copy[key] = replacement;
  }
  return (copy ?? value) as T;
}

function copyOf(value: object): Record<string, unknown> {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(value) as object | null) as Record<string, unknown>, value);
  if (value instanceof Error) {
    copy.message = value.message;
    copy.stack = value.stack;
  }
  return copy;
}
