// Asks the apiserver whether a ServiceAccount token is still valid (TokenReview), for issuers with
// `tokenReview: true`. The JWT's signature stays valid until `exp`; only the apiserver knows that the
// Secret or Pod the token was bound to has been deleted. Answers are cached for a few seconds at
// most, so a deletion is seen within that time and a burst of one token costs one review.
import { RegcredError } from '../errors.ts';
import type { KubeApi } from '../kube/api-client.ts';
import { typedApis } from '../kube/typed-apis.ts';
import { VerifiedTokenCache } from './verified-token-cache.ts';

/** Upper bound of the answer cache: "refused at once" must stay true to within seconds. */
export const TOKEN_REVIEW_CACHE_MS = 3_000;

export interface TokenReviewer {
  /** Resolves when the apiserver authenticates `token` for one of `audiences`; throws RegcredError otherwise. */
  check(token: string, audiences: readonly string[]): Promise<void>;
  /** How long a positive answer may be reused (also caps the verified-token cache of the issuer). */
  readonly cacheMs: number;
}

interface TokenReviewStatus {
  status?: { authenticated?: boolean; error?: string };
}

export interface TokenReviewerOptions {
  api: KubeApi;
  now?: () => number;
  cacheMs?: number;
  maxEntries?: number;
}

export function createTokenReviewer(options: TokenReviewerOptions): TokenReviewer {
  const now = options.now ?? Date.now;
  const cacheMs = Math.min(options.cacheMs ?? TOKEN_REVIEW_CACHE_MS, TOKEN_REVIEW_CACHE_MS);
  const answers = new VerifiedTokenCache<boolean>({ maxEntries: options.maxEntries ?? 1_000 });
  const inflight = new Map<string, Promise<boolean>>();

  async function review(token: string, audiences: readonly string[]): Promise<boolean> {
    let answer: TokenReviewStatus;
    try {
      answer = await typedApis(options.api).authentication.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [...audiences] } },
      });
    } catch (err) {
      // KubeApiError messages hold method, path, status and reason only, never the body sent.
      const reason = (err as { status?: number }).status !== undefined ? `HTTP ${(err as { status: number }).status}` : ((err as NodeJS.ErrnoException).code ?? 'network error');
      throw new RegcredError('KubeUnavailable', `TokenReview failed (${reason})`, { status: 503 });
    }
    return answer.status?.authenticated === true;
  }

  return {
    cacheMs,
    async check(token, audiences) {
      const key = VerifiedTokenCache.keyOf(token);
      let authenticated = answers.get(token, now());
      if (authenticated === undefined) {
        // Concurrent requests with one token share one review.
        let pending = inflight.get(key);
        if (!pending) {
          pending = review(token, audiences).finally(() => inflight.delete(key));
          inflight.set(key, pending);
        }
        authenticated = await pending;
        answers.set(token, authenticated, now() + cacheMs);
      }
      if (!authenticated) throw new RegcredError('CredentialInvalid', 'OIDC token refused: the apiserver no longer accepts it (TokenReview)', { status: 401 });
    },
  };
}
