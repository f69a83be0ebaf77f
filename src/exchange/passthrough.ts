// The pass-through "exchange": for registries that verify OIDC tokens themselves, the registry
// credential IS the ServiceAccount token (with the registry's audience). Shaped as an Exchanger so the
// token cache (single-flight, reuse until the refresh instant decide() also uses) serves it unchanged.
import { RegcredError } from '../errors.ts';
import { readJwtTimes } from '../token/jwt-times.ts';
import type { Exchanger, RegistryToken } from './exchanger.ts';

export function createPassthroughExchanger(): Exchanger {
  return {
    name: 'passthrough',
    // Per Secret (its registry's pass-through audience), not per exchanger.
    audience: '',
    exchange(request, signal) {
      signal?.throwIfAborted();
      let times;
      try {
        times = readJwtTimes(request.subjectToken);
      } catch {
        // TokenRequest always answers a JWT with exp; anything else is a bug on one side, retried.
        return Promise.reject(new RegcredError('TokenRequestFailed', 'TokenRequest answered a token without a readable exp'));
      }
      const token: RegistryToken = { token: request.subjectToken, ...times };
      return Promise.resolve(token);
    },
  };
}
