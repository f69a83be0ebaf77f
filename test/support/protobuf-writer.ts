// A protobuf writer for tests: builds Kubernetes objects the way kube-apiserver sends them, so the
// decoder's unit tests can feed it bytes of known content (the integration tests use the real server's).

export type Value = number | string | Buffer | Message;
/** A message as its fields in order: [field number, value]; a number is a varint, a Message nested. */
export interface Message {
  fields: Array<[number, Value]>;
}

export const msg = (...fields: Array<[number, Value | undefined]>): Message => ({ fields: fields.filter((f): f is [number, Value] => f[1] !== undefined) });

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

export function encode(message: Message): Buffer {
  const parts: Buffer[] = [];
  for (const [number, value] of message.fields) {
    if (typeof value === 'number') {
      parts.push(varint(number * 8), varint(value));
      continue;
    }
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.isBuffer(value) ? value : encode(value);
    parts.push(varint(number * 8 + 2), varint(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** `k8s\0` + runtime.Unknown { typeMeta { apiVersion, kind }, raw }. */
export function envelope(apiVersion: string, kind: string, raw: Message | Buffer, extra: Array<[number, Value]> = []): Buffer {
  return Buffer.concat([MAGIC, encode(msg([1, msg([1, apiVersion], [2, kind])], [2, Buffer.isBuffer(raw) ? raw : encode(raw)], ...extra))]);
}

export interface SecretFields {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  type?: string;
  data?: Record<string, Buffer>;
}

const entries = (field: number, map: Record<string, string | Buffer> | undefined): Array<[number, Value]> =>
  Object.entries(map ?? {}).map(([key, value]) => [field, msg([1, key], [2, value])]);

/** A Secret message with the fields the decoder reads and some it must pass over (generation, creationTimestamp, managedFields). */
export function secretMessage(s: SecretFields): Message {
  const meta = msg(
    [1, s.name],
    [3, s.namespace],
    [5, s.uid],
    [6, s.resourceVersion],
    [7, 3],
    [8, msg([1, 1764806400], [2, 0])],
    ...entries(11, s.labels),
    ...entries(12, s.annotations),
    [17, msg([1, 'kubectl'], [2, 'Update'], [3, 'v1'], [7, msg([1, '{"f:data":{".":{}}}'])])],
  );
  return msg([1, meta], ...entries(2, s.data), [3, s.type]);
}

/** One watch frame: length, then WatchEvent { type, object { raw } }. */
export function watchFrame(type: string, object: Buffer): Buffer {
  const event = encode(msg([1, type], [2, msg([1, object])]));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(event.length);
  return Buffer.concat([length, event]);
}
