// Per-workload identity: tokens of ServiceAccounts in the Secrets' namespaces (TokenRequest, the
// exchanger's audience), one reusing source per ServiceAccount, bounded in number.
import type { Clock } from '../clock.ts';
import { objectKey } from '../object-key.ts';
import { createServiceAccountTokenSource, type IssuedServiceAccountToken, type ServiceAccountTokenSource } from './service-account-token.ts';

export interface WorkloadServiceAccount {
  namespace: string;
  name: string;
  /** The Secret the token is bound to (TokenRequest boundObjectRef); each bound Secret has its own token. */
  boundTo?: { name: string; uid: string };
}

export type RequestWorkloadToken = (
  serviceAccount: WorkloadServiceAccount,
  request: { audience: string; expirationSeconds: number },
) => Promise<IssuedServiceAccountToken>;

export interface WorkloadTokenSourcesOptions {
  request: RequestWorkloadToken;
  clock: Clock;
  expirationSeconds?: number;
  onRequest?: (result: 'success' | 'error') => void;
  /** ServiceAccounts remembered at most; the least recently used go first. Default 5 000. */
  maxEntries?: number;
}

export interface WorkloadTokenSources {
  get(serviceAccount: WorkloadServiceAccount, audience: string): Promise<string>;
  invalidate(serviceAccount: WorkloadServiceAccount, audience: string): void;
}

export function createWorkloadTokenSources(options: WorkloadTokenSourcesOptions): WorkloadTokenSources {
  const maxEntries = options.maxEntries ?? 5_000;
  const sources = new Map<string, ServiceAccountTokenSource>();
  const keyOf = (sa: WorkloadServiceAccount): string => `${objectKey(sa)}${sa.boundTo ? `#${sa.boundTo.uid}` : ''}`;
  const sourceFor = (sa: WorkloadServiceAccount): ServiceAccountTokenSource => {
    const key = keyOf(sa);
    let source = sources.get(key);
    if (source) {
      sources.delete(key); // re-insert: Map order is least recently used first
    } else {
      source = createServiceAccountTokenSource({
        request: (request) => options.request(sa, request),
        clock: options.clock,
        ...(options.expirationSeconds !== undefined ? { expirationSeconds: options.expirationSeconds } : {}),
        ...(options.onRequest ? { onRequest: options.onRequest } : {}),
      });
    }
    sources.set(key, source);
    for (const oldest of sources.keys()) {
      if (sources.size <= maxEntries) break;
      sources.delete(oldest);
    }
    return source;
  };
  return {
    get: (sa, audience) => sourceFor(sa).get(audience),
    invalidate: (sa, audience) => sources.get(keyOf(sa))?.invalidate(audience),
  };
}
