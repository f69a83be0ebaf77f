// Where a 2xx answer's bytes go as they arrive (api-client.ts's exchange()): as text, or as a list page
// cut into its items (list-page-decoder.ts). The one place a list page's syntax error becomes the
// KubeApiError (InvalidJSON) the callers see.
import { StringDecoder } from 'node:string_decoder';
import { isPlainObject } from '../plain-object.ts';
import { KubeApiError } from './api-errors.ts';
import { createListPageScanner, ListPageSyntaxError, type PageBuffer } from './list-page-decoder.ts';
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

/**
 * A list page, cut into items as its bytes arrive. `maxBytes`: over it the answer is refused as soon as
 * write() returns (exchange() checks size()), so the page buffer is not grown for it.
 */
export function listSink(status: number, buffer: PageBuffer | undefined, maxBytes: number | undefined): BodySink<ListPage> {
  const scanner = createListPageScanner(buffer);
  let bytes = 0;
  const asKubeError = <T>(read: () => T): T => {
    try {
      return read();
    } catch (err) {
      throw err instanceof ListPageSyntaxError ? new KubeApiError(status, 'InvalidJSON') : err;
    }
  };
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
