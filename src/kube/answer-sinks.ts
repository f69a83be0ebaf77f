// Where a 2xx answer's bytes go as they arrive (api-client.ts's exchange()): as text, or as a list page
// cut into its items (list-page-decoder.ts, or secret-protobuf.ts for a protobuf one). The one place a
// list page's syntax error becomes the KubeApiError (InvalidJSON, InvalidProtobuf) the callers see.
import { StringDecoder } from 'node:string_decoder';
import { isPlainObject } from '../plain-object.ts';
import { KubeApiError } from './api-errors.ts';
import { createListPageScanner, ListPageSyntaxError } from './list-page-decoder.ts';
import { appendToPageBuffer, createPageBuffer, type PageBuffer } from './page-buffer.ts';
import { ProtobufSyntaxError, readResourceVersionAnswer, readSecret, readSecretListAnswer } from './secret-protobuf.ts';
import type { ItemFilter } from './list-item-filter.ts';

export interface BodySink<R> {
  write(chunk: Buffer): void;
  /** The answer so far, in characters (bytes of what is not decoded yet: never fewer than characters). */
  size(): number;
  end(): R;
}

/** One page of a list: its metadata, and its items parsed one at a time as they are iterated. */
export interface ListPage {
  metadata: { resourceVersion?: string; continue?: string } | undefined;
  itemCount: number;
  /**
   * The items in order, each parsed when it is reached; with `filter`, the items it rules out are passed
   * over unparsed. Throws KubeApiError (InvalidJSON) at an item that is not JSON; the items before it
   * were given.
   */
  items(filter?: ItemFilter): Iterable<unknown>;
}

/**
 * The answer as text. Most answers (a PATCH's metadata, a Lease) come in one chunk: decoded once at the
 * end, with no stream decoder (res.setEncoding cost about 4 % of the controller's CPU at 5,000 writes).
 * From a second chunk on, decoded as it arrives, so no second copy is made in a concatenated Buffer.
 */
export function textSink(): BodySink<string> {
  let first: Buffer | undefined;
  let decoder: StringDecoder | undefined;
  let text = '';
  return {
    write(chunk) {
      if (decoder === undefined && first === undefined) {
        first = chunk;
        return;
      }
      decoder ??= new StringDecoder('utf8');
      if (first !== undefined) {
        text = decoder.write(first);
        first = undefined;
      }
      text += decoder.write(chunk);
    },
    size: () => text.length + (first?.length ?? 0),
    end() {
      text = first !== undefined ? first.toString('utf8') : text + (decoder?.end() ?? '');
      first = undefined;
      return text;
    },
  };
}

/** Runs a read of the answer, turning a `syntax` error of its decoder into the KubeApiError callers see. */
function syntaxErrorsAs(status: number, syntax: new (message: string) => Error, reason: string): <T>(read: () => T) => T {
  return (read) => {
    try {
      return read();
    } catch (err) {
      throw err instanceof syntax ? new KubeApiError(status, reason) : err;
    }
  };
}

/**
 * A list page, cut into items as its bytes arrive. `maxBytes`: over it the answer is refused as soon as
 * write() returns (exchange() checks size()), so the page buffer is not grown for it.
 */
export function listSink(status: number, buffer: PageBuffer | undefined, maxBytes: number | undefined): BodySink<ListPage> {
  const scanner = createListPageScanner(buffer);
  let bytes = 0;
  const asKubeError = syntaxErrorsAs(status, ListPageSyntaxError, 'InvalidJSON');
  return {
    write(chunk) {
      bytes += chunk.length;
      if (maxBytes !== undefined && bytes > maxBytes) return;
      asKubeError(() => scanner.push(chunk));
    },
    size: () => bytes,
    end() {
      const page = asKubeError(() => scanner.end());
      const metadata = page.shell['metadata'];
      return {
        metadata: isPlainObject(metadata) ? (metadata as ListPage['metadata']) : undefined,
        itemCount: page.itemCount,
        *items(filter) {
          const items = page.items(filter)[Symbol.iterator]();
          for (;;) {
            const next = asKubeError(() => items.next());
            if (next.done === true) return;
            yield next.value;
          }
        },
      };
    },
  };
}

/** An answer's bytes, kept for a decoder that needs the whole of it (a protobuf error Status). */
export function bytesSink(): BodySink<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  return {
    write(chunk) {
      chunks.push(chunk);
      bytes += chunk.length;
    },
    size: () => bytes,
    end: () => Buffer.concat(chunks, bytes),
  };
}

/** A protobuf answer that is one object, read for its resourceVersion only (secret-protobuf.ts). */
export function resourceVersionSink(status: number): BodySink<string | undefined> {
  const bytes = bytesSink();
  const asKubeError = syntaxErrorsAs(status, ProtobufSyntaxError, 'InvalidProtobuf');
  return { write: bytes.write, size: bytes.size, end: () => asKubeError(() => readResourceVersionAnswer(bytes.end())) };
}

/** A JSON answer that is one object (or its metadata), read for its resourceVersion. */
export function jsonResourceVersionSink(status: number): BodySink<string | undefined> {
  const text = textSink();
  return {
    write: text.write,
    size: text.size,
    end() {
      const body = text.end();
      let parsed: unknown;
      try {
        parsed = body === '' ? undefined : JSON.parse(body);
      } catch {
        throw new KubeApiError(status, 'InvalidJSON');
      }
      const metadata = isPlainObject(parsed) ? parsed.metadata : undefined;
      const resourceVersion = isPlainObject(metadata) ? metadata.resourceVersion : undefined;
      return typeof resourceVersion === 'string' ? resourceVersion : undefined;
    },
  };
}

/**
 * A protobuf list page of Secrets (secret-protobuf.ts), read into `buffer` like a JSON one; its items
 * are decoded as they are iterated, and those `filter` rules out are passed over by their length.
 */
export function protobufSecretListSink(status: number, buffer: PageBuffer | undefined, maxBytes: number | undefined): BodySink<ListPage> {
  const page = buffer ?? createPageBuffer();
  let length = 0;
  let bytes = 0;
  const asKubeError = syntaxErrorsAs(status, ProtobufSyntaxError, 'InvalidProtobuf');
  return {
    write(chunk) {
      bytes += chunk.length;
      if (maxBytes !== undefined && bytes > maxBytes) return;
      length = appendToPageBuffer(page, length, chunk);
    },
    size: () => bytes,
    end() {
      const list = asKubeError(() => readSecretListAnswer(page.bytes, length));
      // The items are read from the buffer as it is now: a later page may grow it into a new one.
      const held = page.bytes;
      return {
        metadata: list.metadata,
        itemCount: list.items.length,
        *items(filter) {
          for (const { start, end } of list.items) {
            if (filter !== undefined && !filter.mayMatch(held.subarray(start, end))) continue;
            yield asKubeError(() => readSecret(held, start, end));
          }
        },
      };
    },
  };
}
