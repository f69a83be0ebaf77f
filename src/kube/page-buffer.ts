// Where a list page's bytes are kept while its items are read: one buffer, grown as needed, that the
// pages of one list take in turn (list-page-decoder.ts for JSON, answer-sinks.ts for protobuf). Kept
// as their chunks or in a buffer each, dead pages stayed outside V8's heap until a full GC found their
// wrappers (10-25 MiB more peak RSS at 5,000 Secrets in the bench).

/**
 * Where a page's bytes are kept: one buffer, grown as needed, that the pages of one list take in turn.
 * A page's items are read from it, so they must be iterated before the next page is read into it.
 */
export interface PageBuffer {
  bytes: Buffer;
}

export function createPageBuffer(): PageBuffer {
  return { bytes: Buffer.allocUnsafe(64 * 1024) };
}

/** Copies `chunk` in after the first `length` bytes, growing the buffer as needed; returns the new length. */
export function appendToPageBuffer(buffer: PageBuffer, length: number, chunk: Buffer): number {
  if (length + chunk.length > buffer.bytes.length) {
    const grown = Buffer.allocUnsafe(Math.max(buffer.bytes.length * 2, length + chunk.length));
    buffer.bytes.copy(grown, 0, 0, length);
    buffer.bytes = grown;
  }
  chunk.copy(buffer.bytes, length);
  return length + chunk.length;
}
