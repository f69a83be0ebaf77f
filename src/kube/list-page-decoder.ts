// A list page read as bytes and cut into its items as they arrive, so that each item is parsed on its
// own when the cache applies it. A page parsed whole made one string of megabytes and a page's worth of
// objects that outlived the young generation: at 50,000 Secrets beside 10,000 unrelated ones, most of
// the cold start's full GCs (docs/controller.md, "Cold start against a bare patch loop").
//
// Only the bytes are scanned, never decoded: JSON's structural characters are ASCII, and no byte of a
// multi-byte UTF-8 character is. What is not an item (kind, metadata with its continue token) is parsed
// by JSON.parse as the page with an empty `items`, and every item by JSON.parse alone; the scanner only
// finds where items begin and end, and refuses anything between them but whitespace and commas, so a
// page it accepts parses to what JSON.parse of the whole page gives.
//
// The pages of one list are copied into one buffer they share (page-buffer.ts says why).
import { isPlainObject } from '../plain-object.ts';
import type { ItemFilter } from './list-item-filter.ts';
import { appendToPageBuffer, createPageBuffer, type PageBuffer } from './page-buffer.ts';

/** A list page: everything but its items parsed, the items still bytes until asked for. */
export interface DecodedListPage {
  /** The page without its items. */
  readonly shell: Record<string, unknown>;
  /** How many items the page holds. */
  readonly itemCount: number;
  /** The answer's size in bytes. */
  readonly bytes: number;
  /**
   * The items in order, each parsed when it is reached (those `filter` rules out are passed over
   * unparsed); throws ListPageSyntaxError at one that is not JSON.
   */
  items(filter?: ItemFilter): Iterable<unknown>;
}

/** The bytes were not one JSON object, or its items were not objects. */
export class ListPageSyntaxError extends Error {
  override readonly name = 'ListPageSyntaxError';
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** Where the scanner is with respect to the top-level `items` array. */
const Items = {
  Before: 0, // not reached (or the page has none)
  Value: 1, // the `items` key and its colon read: is the value an array?
  First: 2, // inside the array, expecting an item or `]`
  After: 3, // inside the array, after an item: expecting `,` or `]`
  Next: 4, // inside the array, after a comma: expecting an item
  Item: 5, // inside an item
  Done: 6, // past the array (or `items` was not an array: left to JSON.parse of the shell)
} as const;
type ItemsState = (typeof Items)[keyof typeof Items];

/** The key `items` as its bytes appear at the top level (spelled with escapes, the shell check finds it). */
const ITEMS_KEY = Buffer.from('items');

export interface ListPageScanner {
  /** Takes the next chunk of the answer (copied). Throws ListPageSyntaxError as soon as the structure is wrong. */
  push(chunk: Buffer): void;
  /** The page, once the answer is complete. Throws ListPageSyntaxError if it is not a complete list. */
  end(): DecodedListPage;
}

/** `buffer`: where the page is read to (and from); default a buffer of its own. */
export function createListPageScanner(buffer: PageBuffer = createPageBuffer()): ListPageScanner {
  let page = buffer.bytes;
  let length = 0;
  // The next byte to scan. Everything before it is scanned, except that a backslash ending the bytes
  // so far is left until the byte it escapes arrives.
  let at = 0;
  let depth = 0;
  let inString = false;
  let items: ItemsState = Items.Before;
  // Top-level strings: where the one being read starts, whether the last one was a key, and its bytes.
  let topStringStart = -1;
  let expectKey = false;
  let lastKeyStart = -1;
  let lastKeyEnd = -1;
  let sawItemsArray = false;
  // Byte ranges, as [start, end) pairs: of the shell (the page around the items' contents) and the items.
  const shellRanges: number[] = [];
  let shellFrom = 0;
  const itemRanges: number[] = [];
  let itemStart = -1;
  // The next backslash at or after the scan, if known; -1: none before `backslashTo`. Most strings hold
  // none, and searching from each string's start would read the rest of the page again every time.
  let backslashAt = -1;
  let backslashTo = 0;

  const fail = (why: string): never => {
    throw new ListPageSyntaxError(`list page is not valid JSON: ${why}`);
  };

  const nextBackslash = (view: Buffer, i: number): number => {
    if (backslashAt >= i) return backslashAt;
    const from = backslashAt === -1 ? Math.max(i, backslashTo) : i;
    backslashAt = from >= length ? -1 : view.indexOf(BACKSLASH, from);
    backslashTo = length;
    return backslashAt;
  };

  const scan = () => {
    // Bounded to the bytes so far: indexOf must not read the buffer's unwritten rest.
    const view = page.subarray(0, length);
    let i = at;
    while (i < length) {
      if (inString) {
        const quote = view.indexOf(QUOTE, i);
        const backslash = nextBackslash(view, i);
        if (backslash !== -1 && (quote === -1 || backslash < quote)) {
          if (backslash + 1 >= length) {
            i = backslash; // the escaped byte has not arrived
            break;
          }
          i = backslash + 2;
          continue;
        }
        if (quote === -1) {
          i = length;
          break;
        }
        inString = false;
        if (topStringStart !== -1) {
          if (expectKey) {
            lastKeyStart = topStringStart;
            lastKeyEnd = quote;
          }
          topStringStart = -1;
        }
        i = quote + 1;
        continue;
      }
      const byte = view[i]!;
      if (isWhitespace(byte)) {
        i++;
        continue;
      }
      switch (items) {
        case Items.Value:
          if (byte === OPEN_BRACKET) {
            depth++;
            items = Items.First;
            sawItemsArray = true;
            shellRanges.push(shellFrom, i + 1);
            i++;
            continue;
          }
          items = Items.Done;
          break;
        case Items.First:
        case Items.Next:
          if (byte === OPEN_BRACE) {
            items = Items.Item;
            itemStart = i;
            depth++;
            i++;
            continue;
          }
          if (byte === CLOSE_BRACKET && items === Items.First) {
            depth--;
            items = Items.Done;
            shellFrom = i;
            i++;
            continue;
          }
          fail(items === Items.First ? 'an item that is not an object' : 'a comma not followed by an object');
          break;
        case Items.After:
          if (byte === COMMA) {
            items = Items.Next;
            i++;
            continue;
          }
          if (byte === CLOSE_BRACKET) {
            depth--;
            items = Items.Done;
            shellFrom = i;
            i++;
            continue;
          }
          fail('items not separated by commas');
          break;
        default:
          break;
      }
      switch (byte) {
        case QUOTE:
          inString = true;
          if (depth === 1) topStringStart = i + 1;
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          if (depth === 0 && byte !== OPEN_BRACE) fail('not an object');
          depth++;
          if (depth === 1) expectKey = true;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          depth--;
          if (depth < 0) fail('unbalanced brackets');
          if (items === Items.Item && depth === 2) {
            itemRanges.push(itemStart, i + 1);
            items = Items.After;
          }
          break;
        case COLON:
          if (depth === 1 && expectKey) {
            expectKey = false;
            if (lastKeyEnd - lastKeyStart === ITEMS_KEY.length && view.subarray(lastKeyStart, lastKeyEnd).equals(ITEMS_KEY)) {
              if (items !== Items.Before) fail('two items arrays');
              items = Items.Value;
            }
          }
          break;
        case COMMA:
          if (depth === 1) expectKey = true;
          break;
        default:
          if (depth === 0) fail('not an object');
          break;
      }
      i++;
    }
    at = i;
  };

  return {
    push(chunk) {
      length = appendToPageBuffer(buffer, length, chunk);
      page = buffer.bytes;
      scan();
    },
    end() {
      if (inString || depth !== 0 || at !== length || (items !== Items.Before && items !== Items.Done)) fail('the answer ended inside a value');
      if (items === Items.Done && sawItemsArray) shellRanges.push(shellFrom, length);
      else shellRanges.push(0, length);
      const shellBytes = Buffer.concat(
        Array.from({ length: shellRanges.length / 2 }, (_, k) => page.subarray(shellRanges[2 * k]!, shellRanges[2 * k + 1]!)),
      );
      let shell: unknown;
      try {
        shell = JSON.parse(shellBytes.toString('utf8'));
      } catch {
        fail('the page around its items');
      }
      if (!isPlainObject(shell)) fail('not an object');
      const result = shell as Record<string, unknown>;
      const inShell = result['items'];
      delete result['items'];
      if (sawItemsArray) {
        // The array cut out leaves an empty one in its place; anything else is a second `items` key
        // spelled with escapes, which JSON.parse would have let win.
        if (!(Array.isArray(inShell) && inShell.length === 0)) fail('two items arrays');
        const bytes = page;
        return {
          shell: result,
          itemCount: itemRanges.length / 2,
          bytes: length,
          *items(filter) {
            for (let k = 0; k < itemRanges.length; k += 2) {
              const [start, end] = [itemRanges[k]!, itemRanges[k + 1]!];
              if (filter === undefined || filter.mayMatch(bytes.subarray(start, end))) yield parseListItem(bytes, start, end);
            }
          },
        };
      }
      // No items (absent or null), or an array the scanner did not see as the items (an escaped key).
      if (inShell !== undefined && inShell !== null && !Array.isArray(inShell)) fail('items is not an array');
      const parsed: unknown[] = Array.isArray(inShell) ? inShell : [];
      if (!parsed.every(isPlainObject)) fail('an item that is not an object');
      return { shell: result, itemCount: parsed.length, bytes: length, items: () => parsed };
    },
  };
}

function parseListItem(page: Buffer, start: number, end: number): unknown {
  try {
    return JSON.parse(page.toString('utf8', start, end));
  } catch {
    throw new ListPageSyntaxError('list page is not valid JSON: an item');
  }
}
