// The two shapes of a watch answer, as `data` handlers that call `onEvent` per event: JSON lines, or a
// protobuf stream (`application/vnd.kubernetes.protobuf;stream=watch`) of frames of a 4-byte big-endian
// length and that many bytes, each one WatchEvent (secret-protobuf.ts). An event that spans chunks is
// joined once, when its last piece has arrived (searching or concatenating the growing whole copied a
// 1 MiB event once per chunk). Each calls `fail` once, and then reads nothing more, when an event does
// not decode or `onEvent` throws; `stopped` ends the reading of a chunk as soon as the watch is over.
import { KubeApiError } from './api-errors.ts';
import { ProtobufSyntaxError, readWatchFrame } from './secret-protobuf.ts';

/** One event of a watch stream. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: unknown;
}

/** Far above any object etcd stores (about 1.5 MiB): a length beyond it is a broken stream, not an event. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

type Fail = (err: unknown) => void;

export function jsonWatchLines(status: number, onEvent: (event: WatchEvent) => void, fail: Fail, stopped: () => boolean): (chunk: string) => void {
  let pending: string[] = [];
  let failed = false;
  return (chunk) => {
    let start = 0;
    let newline: number;
    while (!failed && !stopped() && (newline = chunk.indexOf('\n', start)) !== -1) {
      pending.push(chunk.slice(start, newline));
      const line = pending.join('');
      pending = [];
      start = newline + 1;
      if (line.trim() === '') continue;
      let event: WatchEvent;
      try {
        event = JSON.parse(line) as WatchEvent;
      } catch {
        failed = true;
        return fail(new KubeApiError(status, 'InvalidJSON'));
      }
      try {
        onEvent(event);
      } catch (err) {
        failed = true;
        return fail(err);
      }
    }
    if (start < chunk.length) pending.push(chunk.slice(start));
  };
}

export function protobufWatchFrames(status: number, onEvent: (event: WatchEvent) => void, fail: Fail, stopped: () => boolean): (chunk: Buffer) => void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let failed = false;
  return (chunk) => {
    if (failed) return;
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes < 4) return;
    let data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    let at = 0;
    while (!stopped() && data.length - at >= 4) {
      const size = data.readUInt32BE(at);
      if (size > MAX_FRAME_BYTES) {
        failed = true;
        return fail(new KubeApiError(status, 'InvalidProtobuf'));
      }
      if (data.length - at - 4 < size) break;
      let event: WatchEvent;
      try {
        event = readWatchFrame(data, at + 4, at + 4 + size) as WatchEvent;
      } catch (err) {
        failed = true;
        return fail(err instanceof ProtobufSyntaxError ? new KubeApiError(status, 'InvalidProtobuf') : err);
      }
      at += 4 + size;
      try {
        onEvent(event);
      } catch (err) {
        failed = true;
        return fail(err);
      }
    }
    if (at > 0) data = data.subarray(at);
    pending = data.length === 0 ? [] : [data];
    pendingBytes = data.length;
  };
}
