// The contract every Exchanger implementation passes, run against a real peer: it fills, maps each
// kind of failure to the same error code, never leaks a secret into an error, and honours abort.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { RegcredError, type ErrorCode } from '../../src/errors.ts';
import type { Exchanger } from '../../src/exchange/exchanger.ts';
import { readJwtTimes } from '../../src/token/jwt-times.ts';
import type { StsFault } from '../support/test-sts.ts';

export interface ExchangerContractSetup {
  /** An exchanger talking to the harness's peer. */
  createExchanger(options: { timeoutMs: number }): Exchanger;
  /** An exchanger whose peer address has nothing listening. */
  createUnreachableExchanger(options: { timeoutMs: number }): Exchanger;
  /** A subject token the peer accepts. */
  subjectToken: string;
  /** A well-formed subject token the peer must refuse (wrong signer). */
  rejectedSubjectToken: string;
  identity: string;
  registry: string;
  setFault(fault: StsFault | undefined): void;
  /** Exchange requests the peer has received so far. */
  exchangeCalls(): number;
  stop(): Promise<void>;
}

/** Every failure the peer can be made to produce, and the code the exchanger must report for it. */
const FAULTS: ReadonlyArray<{ fault: StsFault; code: ErrorCode; status?: number }> = [
  { fault: 500, code: 'StsServerError', status: 500 },
  { fault: 401, code: 'StsUnauthorized', status: 401 },
  { fault: 403, code: 'StsForbidden', status: 403 },
  { fault: 429, code: 'StsRateLimited', status: 429 },
  { fault: 'unknown-identity', code: 'StsForbidden', status: 403 },
  { fault: 'non-json', code: 'StsBadResponse', status: 200 },
  { fault: 'no-token', code: 'StsBadResponse', status: 200 },
  { fault: 'not-a-jwt', code: 'RegistryTokenInvalid', status: 200 },
];

/** Every string an error could show a person or a log: messages along the cause chain, own fields. */
function errorTexts(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    parts.push(String(current));
    if (typeof current === 'object') {
      parts.push(JSON.stringify(current));
      parts.push(String((current as { stack?: unknown }).stack ?? ''));
    }
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the exchange to fail, but it succeeded');
}

function assertNoSecrets(error: unknown, subjectToken: string): void {
  const text = errorTexts(error);
  const signature = subjectToken.split('.')[2] ?? subjectToken;
  assert.ok(!text.includes(subjectToken), 'the error shows the subject token');
  assert.ok(!text.includes(signature), "the error shows the subject token's signature");
  assert.ok(!/eyJ[A-Za-z0-9_-]{8,}/.test(text), `the error shows something JWT-like: ${text.slice(0, 300)}`);
}

export function runExchangerContract(name: string, setup: () => Promise<ExchangerContractSetup>): void {
  describe(`Exchanger contract: ${name}`, () => {
    let h: ExchangerContractSetup;
    before(async () => {
      h = await setup();
    });
    after(() => h.stop());
    const request = () => ({ identity: h.identity, registry: h.registry, subjectToken: h.subjectToken });

    it('fills: returns a registry JWT whose expiresAt is its exp, in the future', async () => {
      h.setFault(undefined);
      const token = await h.createExchanger({ timeoutMs: 10_000 }).exchange(request());
      const times = readJwtTimes(token.token);
      assert.equal(token.expiresAt.getTime(), times.expiresAt.getTime(), 'expiresAt should equal the JWT exp');
      assert.equal(token.issuedAt?.getTime(), times.issuedAt?.getTime(), 'issuedAt should equal the JWT iat');
      assert.ok(token.expiresAt.getTime() > Date.now(), `expiresAt ${token.expiresAt.toISOString()} is not in the future`);
    });

    it('exchanges anew on every call (caching is the token cache’s job)', async () => {
      h.setFault(undefined);
      const exchanger = h.createExchanger({ timeoutMs: 10_000 });
      const before = h.exchangeCalls();
      const first = await exchanger.exchange(request());
      const second = await exchanger.exchange(request());
      assert.equal(h.exchangeCalls() - before, 2, 'expected two requests to the peer');
      assert.notEqual(first.token, second.token, 'expected two distinct tokens');
    });

    for (const { fault, code, status } of FAULTS) {
      it(`reports ${code} when the peer answers with fault ${fault}, and no secret in the error`, async () => {
        h.setFault(fault);
        try {
          const error = await rejection(h.createExchanger({ timeoutMs: 10_000 }).exchange(request()));
          assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
          assert.equal(error.code, code);
          if (status !== undefined) assert.equal(error.status, status, 'error.status');
          if (fault === 429) assert.ok((error.retryAfterMs ?? 0) > 0, `expected retryAfterMs > 0, got ${error.retryAfterMs}`);
          assertNoSecrets(error, h.subjectToken);
        } finally {
          h.setFault(undefined);
        }
      });
    }

    it('reports StsUnauthorized for a subject token the peer does not trust', async () => {
      h.setFault(undefined);
      const error = await rejection(
        h.createExchanger({ timeoutMs: 10_000 }).exchange({ ...request(), subjectToken: h.rejectedSubjectToken }),
      );
      assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
      assert.equal(error.code, 'StsUnauthorized');
      assertNoSecrets(error, h.rejectedSubjectToken);
    });

    it('reports StsTimeout, a transient error, when the peer never answers', async () => {
      h.setFault('timeout');
      try {
        const error = await rejection(h.createExchanger({ timeoutMs: 200 }).exchange(request()));
        assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
        assert.equal(error.code, 'StsTimeout');
        assert.equal(error.transient, true);
      } finally {
        h.setFault(undefined);
      }
    });

    it('reports StsUnreachable, a transient error, when nothing listens', async () => {
      const error = await rejection(h.createUnreachableExchanger({ timeoutMs: 10_000 }).exchange(request()));
      assert.ok(error instanceof RegcredError, `expected a RegcredError, got ${String(error)}`);
      assert.equal(error.code, 'StsUnreachable');
      assert.equal(error.transient, true);
      assertNoSecrets(error, h.subjectToken);
    });

    it("rejects with the signal's reason when aborted while waiting, not with a timeout", async () => {
      h.setFault('timeout');
      try {
        const controller = new AbortController();
        const pending = h.createExchanger({ timeoutMs: 60_000 }).exchange(request(), controller.signal);
        setTimeout(() => controller.abort(), 50);
        const error = await rejection(pending);
        assert.equal((error as Error).name, 'AbortError', `expected AbortError, got ${String(error)}`);
      } finally {
        h.setFault(undefined);
      }
    });

    it('does not contact the peer when the signal is already aborted', async () => {
      const before = h.exchangeCalls();
      const error = await rejection(
        h.createExchanger({ timeoutMs: 10_000 }).exchange(request(), AbortSignal.abort()),
      );
      assert.equal((error as Error).name, 'AbortError', `expected AbortError, got ${String(error)}`);
      assert.equal(h.exchangeCalls(), before, 'expected no request to the peer');
    });
  });
}
