// Whether the valid Secrets kept a live token the whole time (issue 17: "the valid Secrets keep
// refreshing"), from the bench's own watch: every second, how many annotated Secrets hold no token or
// one past its `exp`. Robust to when a refresh round starts, unlike a cycle that must see every token
// replaced inside one window.
import { readJwtTimes } from '../src/token/jwt-times.ts';
import type { SecretWatch } from './secret-watch.ts';

export interface TokenCoverage {
  samples: number;
  /** Most annotated Secrets without a live token in one sample (after the first fill). */
  maxWithoutLiveToken: number;
  /** Sum over samples of Secrets without a live token × the sample interval: Secret-seconds. */
  secretSecondsWithoutLiveToken: number;
  /** The longest run of samples with any Secret without a live token, in seconds. */
  longestGapSeconds: number;
}

export function sampleTokenCoverage(watch: SecretWatch, intervalMs = 1000): { stop(): TokenCoverage } {
  const coverage: TokenCoverage = { samples: 0, maxWithoutLiveToken: 0, secretSecondsWithoutLiveToken: 0, longestGapSeconds: 0 };
  const expOf = new Map<string, number>();
  let gapStartedMs: number | undefined;
  const sample = () => {
    const nowMs = Date.now();
    let live = 0;
    for (const token of watch.managedTokens()) {
      let exp = expOf.get(token);
      if (exp === undefined) {
        try {
          exp = readJwtTimes(token).expiresAt.getTime();
        } catch {
          exp = 0;
        }
        expOf.set(token, exp);
      }
      if (exp > nowMs) live++;
    }
    const without = watch.managedCount() - live;
    coverage.samples++;
    coverage.maxWithoutLiveToken = Math.max(coverage.maxWithoutLiveToken, without);
    coverage.secretSecondsWithoutLiveToken += (without * intervalMs) / 1000;
    if (without > 0) gapStartedMs ??= nowMs;
    else if (gapStartedMs !== undefined) {
      coverage.longestGapSeconds = Math.max(coverage.longestGapSeconds, (nowMs - gapStartedMs) / 1000);
      gapStartedMs = undefined;
    }
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      if (gapStartedMs !== undefined) coverage.longestGapSeconds = Math.max(coverage.longestGapSeconds, (Date.now() - gapStartedMs) / 1000);
      return coverage;
    },
  };
}
