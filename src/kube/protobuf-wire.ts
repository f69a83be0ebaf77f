// The protobuf wire format as far as reading Kubernetes objects needs it: fields of a message, one at a
// time, with every length checked against the message's end. Nothing is decoded that is not asked for:
// a field the caller does not read (managedFields, a large data value of a Secret nobody keeps) is
// passed over by its length, never looked at.

/** The bytes were not a protobuf message of the expected shape. */
export class ProtobufSyntaxError extends Error {
  override readonly name = 'ProtobufSyntaxError';
}

const WireType = { Varint: 0, Fixed64: 1, Bytes: 2, Fixed32: 5 } as const;

/** One field of a message: its number and wire type, and where its value lies. */
export interface Field {
  number: number;
  wireType: number;
  /** A varint's value (Varint only; exact up to 2^53). */
  value: number;
  /** A length-delimited value's bytes: [start, end) of the message's buffer (Bytes only). */
  start: number;
  end: number;
}

/**
 * Calls `onField` for each field of the message in bytes[start, end), in order. The Field object is
 * reused from one call to the next: read what you need from it before returning.
 */
export function forEachField(bytes: Buffer, start: number, end: number, onField: (field: Field) => void): void {
  if (start < 0 || end > bytes.length || start > end) throw new ProtobufSyntaxError('message outside its buffer');
  const field: Field = { number: 0, wireType: 0, value: 0, start: 0, end: 0 };
  let at = start;
  while (at < end) {
    const tag = readVarint(bytes, at, end);
    at = varintEnd;
    field.number = Math.floor(tag / 8);
    field.wireType = tag % 8;
    if (field.number === 0) throw new ProtobufSyntaxError('field number 0');
    switch (field.wireType) {
      case WireType.Varint:
        field.value = readVarint(bytes, at, end);
        at = varintEnd;
        break;
      case WireType.Fixed64:
        at += 8;
        break;
      case WireType.Bytes: {
        const length = readVarint(bytes, at, end);
        at = varintEnd;
        if (length > end - at) throw new ProtobufSyntaxError('length past the end of the message');
        field.start = at;
        field.end = at + length;
        at += length;
        break;
      }
      case WireType.Fixed32:
        at += 4;
        break;
      default:
        // Groups (3, 4) are proto2's and unused by Kubernetes; 6 and 7 do not exist.
        throw new ProtobufSyntaxError(`wire type ${field.wireType}`);
    }
    if (at > end) throw new ProtobufSyntaxError('fixed-size value past the end of the message');
    onField(field);
  }
}

/**
 * Where the last readVarint() stopped. A module variable rather than a closure over the position or a
 * returned pair: either was an allocation per message (or per field), a dozen per watch event.
 */
let varintEnd = 0;

function readVarint(bytes: Buffer, start: number, end: number): number {
  let result = 0;
  let scale = 1;
  let at = start;
  for (let i = 0; i < 10; i++) {
    if (at >= end) throw new ProtobufSyntaxError('truncated varint');
    const byte = bytes[at++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      varintEnd = at;
      return result;
    }
    scale *= 128;
  }
  throw new ProtobufSyntaxError('varint longer than 10 bytes');
}

/** A length-delimited field's value as UTF-8 text. */
export function fieldText(bytes: Buffer, field: Field): string {
  expectBytes(field);
  return bytes.toString('utf8', field.start, field.end);
}

export function expectBytes(field: Field): void {
  if (field.wireType !== WireType.Bytes) throw new ProtobufSyntaxError(`field ${field.number}: wire type ${field.wireType}, not length-delimited`);
}

export function expectVarint(field: Field): number {
  if (field.wireType !== WireType.Varint) throw new ProtobufSyntaxError(`field ${field.number}: wire type ${field.wireType}, not a varint`);
  return field.value;
}

/** A `map<string, string>` or `map<string, bytes>` entry (key = 1, value = 2): [key, [start, end) of the value]. */
export function mapEntry(bytes: Buffer, field: Field): { key: string; start: number; end: number } {
  expectBytes(field);
  let key = '';
  let valueStart = field.start;
  let valueEnd = field.start;
  forEachField(bytes, field.start, field.end, (entry) => {
    if (entry.number === 1) key = fieldText(bytes, entry);
    else if (entry.number === 2) {
      expectBytes(entry);
      valueStart = entry.start;
      valueEnd = entry.end;
    }
  });
  return { key, start: valueStart, end: valueEnd };
}
