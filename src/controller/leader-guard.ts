// Leadership checked at the last moment before every side effect: each Secret write, Event, attach and
// token exchange asks isLeader() (which applies the renew deadline on this replica's own clock) right
// before it goes out, so a replica that lost the Lease while a reconcile ran never acts on it. The
// reconcile's own checks decide whether to start; these decide whether the request is sent at all.
import { RegcredError } from '../errors.ts';
import type { Exchanger } from '../exchange/exchanger.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SecretWriter } from '../kube/secret-writer.ts';
import type { ServiceAccountAttacher } from '../kube/service-accounts.ts';

export type IsLeader = () => boolean;

function refuse(what: string): never {
  throw new RegcredError('NotLeader', `not the leader (renewal not proven within the renew deadline): ${what} not sent`);
}

export function guardWriter(writer: SecretWriter, isLeader: IsLeader): SecretWriter {
  return {
    // A read changes nothing: guarded only by the write it precedes.
    readDocument: (read) => writer.readDocument(read),
    writeData: async (write) => (isLeader() ? writer.writeData(write) : refuse('Secret write')),
    writeStatus: async (write) => (isLeader() ? writer.writeStatus(write) : refuse('Secret status write')),
  };
}

/** Events are best effort anyway: a follower's are dropped without a word. */
export function guardEvents(events: EventRecorder, isLeader: IsLeader): EventRecorder {
  return { record: async (target, event) => (isLeader() ? events.record(target, event) : undefined) };
}

export function guardAttacher(attacher: ServiceAccountAttacher, isLeader: IsLeader): ServiceAccountAttacher {
  return { attach: async (namespace, serviceAccount, secretName) => (isLeader() ? attacher.attach(namespace, serviceAccount, secretName) : refuse('attach')) };
}

export function guardExchanger(exchanger: Exchanger, isLeader: IsLeader): Exchanger {
  return {
    name: exchanger.name,
    audience: exchanger.audience,
    exchange: async (request, signal) => (isLeader() ? exchanger.exchange(request, signal) : refuse('token exchange')),
  };
}
