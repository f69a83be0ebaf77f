// Passing over list items without parsing them. The controller's Secret watch sees every
// dockerconfigjson Secret of the cluster and keeps only the annotated ones; beside the bench's 50,000
// managed Secrets, 10,000 unrelated ones are 80 MiB of JSON that was parsed only to be thrown away.
// An item whose bytes hold none of the annotation keys can not be kept, and is never parsed.
//
// The test must never rule out an item the cache would keep. A key can be spelled with JSON escapes
// (`\/`, `\u0069`), which a byte search for its plain spelling misses; kube-apiserver writes neither for
// these characters, but an item that holds either escape anywhere is parsed, whatever its other bytes.
// The other escapes (`\"`, `\\`, `\n`, ...) stand for characters no annotation key has.
// In a protobuf item (secret-protobuf.ts) a key is its plain UTF-8 bytes: nothing is escaped there.

/** Decides from an item's bytes whether it may be of interest; false only when it certainly is not. */
export interface ItemFilter {
  mayMatch(item: Buffer): boolean;
}

const SLASH_ESCAPE = Buffer.from('\\/');
const UNICODE_ESCAPE = Buffer.from('\\u');

/** Items that hold at least one of `strings` (characters that need no escape in JSON: keys, names). */
export function containingAnyOf(strings: readonly string[]): ItemFilter {
  const needles = strings.map((s) => {
    if (/["\\\u0000-\u001f]/.test(s)) throw new TypeError(`not a plain JSON string: ${JSON.stringify(s)}`);
    return Buffer.from(s);
  });
  return {
    mayMatch(item) {
      for (const needle of needles) if (item.indexOf(needle) !== -1) return true;
      return item.indexOf(SLASH_ESCAPE) !== -1 || item.indexOf(UNICODE_ESCAPE) !== -1;
    },
  };
}
