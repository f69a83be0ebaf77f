// Attacks on the token service, each against the real server on 127.0.0.1: every one is refused
// with the right status and error code, the server keeps serving, and no token reaches a log line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT, generateKeyPair } from 'jose';
import type { RunningSts } from '../../src/cmd/sts.ts';
import {
  SERVICE,
  baseConfig,
  basic,
  captureLogs,
  createSigningMaterial,
  createTestIssuer,
  startTestSts,
  writeConfig,
  type TestIssuer,
} from './sts-fixtures.ts';
import { scratchDir } from '../support/scratch.ts';

const BUILDER = 'system:serviceaccount:ci:builder';
const logs = captureLogs();
/** Every credential sent in this file; none may appear in the logs. */
const secrets: string[] = [];
let a: TestIssuer;
let b: TestIssuer;
let sts: RunningSts;
let other: RunningSts;
let base: string;

function remember<T extends string>(token: T): T {
  secrets.push(token);
  return token;
}

async function exchange(stsUrl: string, jwt: string, identity = 'builder', aud = SERVICE): Promise<Response> {
  return fetch(`${stsUrl}/sts/exchange?aud=${encodeURIComponent(aud)}&identity=${encodeURIComponent(identity)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${remember(jwt)}` },
  });
}

async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { errors: { detail: string }[] };
  return body.errors[0]!.detail;
}

async function expectRefused(res: Response, status: number, code: string): Promise<void> {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}`);
  assert.equal(await errorCode(res), code);
}

function craft(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

function validClaims(issuer: TestIssuer, subject = BUILDER): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer.issuer, aud: issuer.audience, sub: subject, iat: now, exp: now + 600 };
}

before(async () => {
  a = await createTestIssuer('a', 'RS256');
  b = await createTestIssuer('b', 'ES256');
  const dir = scratchDir('sts-security-');
  const signing = createSigningMaterial('ec', join(dir));
  sts = await startTestSts(writeConfig(dir, baseConfig(a, b, signing)), logs);
  // A second service with the same signing key but another registry: its tokens must not work here.
  const otherConfig = { ...baseConfig(a, b, signing), service: 'other-registry.test', exchangeAudiences: [] };
  other = await startTestSts(writeConfig(dir, otherConfig, 'other.yaml'), logs);
  base = `http://127.0.0.1:${sts.port}`;
});

after(async () => {
  await sts?.stop();
  await other?.stop();
});

describe('OIDC token attacks on /sts/exchange', () => {
  test('a valid token is accepted (control)', async () => {
    const res = await exchange(base, await a.sign(BUILDER));
    assert.equal(res.status, 200);
    secrets.push(((await res.json()) as { token: string }).token);
  });

  test('a forged signature is refused with 401', async () => {
    const genuine = await a.sign(BUILDER);
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(validClaims(a)).setProtectedHeader({ alg: 'RS256', kid: a.kid }).sign(privateKey);
    // Genuine header and payload with the forger's signature, and the forger's whole token.
    const spliced = genuine.split('.').slice(0, 2).join('.') + '.' + forged.split('.')[2];
    await expectRefused(await exchange(base, forged), 401, 'CredentialInvalid');
    await expectRefused(await exchange(base, spliced), 401, 'CredentialInvalid');
  });

  test('alg none is refused with 401', async () => {
    await expectRefused(await exchange(base, craft({ alg: 'none', typ: 'JWT' }, validClaims(a))), 401, 'CredentialInvalid');
    await expectRefused(await exchange(base, craft({ alg: 'none', kid: a.kid }, validClaims(a), 'AAAA')), 401, 'CredentialInvalid');
  });

  test('HS256 signed with the issuer public key as the secret is refused with 401', async () => {
    const pem = createPublicKey({ key: a.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    for (const secret of [pem, JSON.stringify(a.publicJwk), a.publicJwk.n!]) {
      const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: a.kid })).toString('base64url');
      const payload = Buffer.from(JSON.stringify(validClaims(a))).toString('base64url');
      const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      await expectRefused(await exchange(base, `${header}.${payload}.${signature}`), 401, 'CredentialInvalid');
    }
  });

  test('an untrusted iss is refused with 401, a trusted iss with the wrong key too', async () => {
    await expectRefused(await exchange(base, await a.sign(BUILDER, { claims: { iss: 'https://evil.test' } })), 401, 'IssuerUnknown');
    // Claims to come from b, signed with a's key.
    await expectRefused(await exchange(base, await a.sign(BUILDER, { claims: { iss: b.issuer } })), 401, 'CredentialInvalid');
  });

  test('the wrong aud is refused with 401', async () => {
    await expectRefused(await exchange(base, await a.sign(BUILDER, { claims: { aud: 'someone-else' } })), 401, 'CredentialInvalid');
  });

  test('an expired token is refused with 401 (beyond the leeway)', async () => {
    const iat = Math.floor(Date.now() / 1000) - 7200;
    await expectRefused(await exchange(base, await a.sign(BUILDER, { iat, lifetimeSeconds: 3600 })), 401, 'CredentialInvalid');
  });

  test('a token not yet valid is refused with 401', async () => {
    const nbf = Math.floor(Date.now() / 1000) + 3600;
    await expectRefused(await exchange(base, await a.sign(BUILDER, { claims: { nbf } })), 401, 'CredentialInvalid');
  });

  test('an identity UID used with a token from a different (trusted) issuer is refused with 403', async () => {
    // b is trusted, and the subject is the one `builder` expects, but `builder` trusts only a.
    await expectRefused(await exchange(base, await b.sign(BUILDER), 'builder'), 403, 'IdentityMismatch');
    // And the reverse: a's token for b's identity.
    await expectRefused(await exchange(base, await a.sign('b-subject'), 'b-only'), 403, 'IdentityMismatch');
  });

  test('an unknown identity and another registry are refused with 403', async () => {
    await expectRefused(await exchange(base, await a.sign(BUILDER), 'nobody'), 403, 'IdentityUnknown');
    await expectRefused(await exchange(base, await a.sign(BUILDER), 'builder', 'ghcr.io'), 403, 'AudienceInvalid');
  });

  test('a missing or malformed Authorization header is refused with 401 and a challenge', async () => {
    const res = await fetch(`${base}/sts/exchange?aud=${SERVICE}&identity=builder`, { method: 'POST' });
    await expectRefused(res, 401, 'CredentialMissing');
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="https://sts.test/token",service="${SERVICE}"`);
    const garbage = await fetch(`${base}/sts/exchange?aud=${SERVICE}&identity=builder`, { method: 'POST', headers: { authorization: 'Bearer not.a.jwt!' } });
    await expectRefused(garbage, 401, 'CredentialInvalid');
    const huge = await exchange(base, 'x'.repeat(15_000));
    await expectRefused(huge, 401, 'CredentialInvalid');
  });
});

describe('credential attacks on /token', () => {
  async function exchangeTokenFrom(server: RunningSts): Promise<string> {
    const res = await exchange(`http://127.0.0.1:${server.port}`, await a.sign(BUILDER), 'builder', server.runtime().config.service);
    assert.equal(res.status, 200);
    return remember(((await res.json()) as { token: string }).token);
  }

  async function token(authorization: string | undefined, query = `service=${SERVICE}&scope=repository:ci/app:pull`): Promise<Response> {
    if (authorization) remember(authorization);
    return fetch(`${base}/token?${query}`, authorization ? { headers: { authorization } } : {});
  }

  test('an exchange token replayed for another registry is refused with 401', async () => {
    const foreign = await exchangeTokenFrom(other);
    await expectRefused(await token(basic('_token', foreign)), 401, 'AudienceInvalid');
    // The same token, verified and cached once, is still refused on the second try.
    await expectRefused(await token(basic('_token', foreign)), 401, 'AudienceInvalid');
    // Control: a token from this service works.
    assert.equal((await token(basic('_token', await exchangeTokenFrom(sts)))).status, 200);
  });

  test('a registry token from /token is not accepted as the _token credential', async () => {
    const res = await token(basic('_token', await exchangeTokenFrom(sts)));
    const registryToken = remember(((await res.json()) as { token: string }).token);
    await expectRefused(await token(basic('_token', registryToken)), 401, 'CredentialInvalid');
  });

  test('a raw OIDC token with a forged signature under an issuer name is refused with 401', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(validClaims(a)).setProtectedHeader({ alg: 'RS256', kid: a.kid }).sign(privateKey);
    await expectRefused(await token(basic('a', forged)), 401, 'CredentialInvalid');
    await expectRefused(await token(basic('nosuchissuer', await a.sign(BUILDER))), 401, 'IssuerUnknown');
  });

  test('Basic auth that is not base64 is refused with 401', async () => {
    for (const header of ['Basic !!!not-base64!!!', 'Basic abc', 'Basic ' + Buffer.from('no-colon').toString('base64'), 'Basic', 'Digest abc']) {
      const res = await token(header);
      assert.equal(res.status, 401, `${header}: expected 401, got ${res.status}`);
      assert.equal(await errorCode(res), 'CredentialInvalid');
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+",service="registry\.test"$/);
    }
  });

  test('anonymous requests get a 401 challenge', async () => {
    const res = await token(undefined);
    await expectRefused(res, 401, 'CredentialMissing');
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="https://sts.test/token",service="${SERVICE}"`);
  });
});

describe('scope attacks on /token', () => {
  let credential: string;
  before(async () => {
    const res = await exchange(base, await a.sign(BUILDER));
    credential = remember(basic('_token', ((await res.json()) as { token: string }).token));
  });

  const get = (query: string) => fetch(`${base}/token?service=${SERVICE}&${query}`, { headers: { authorization: credential } });
  const post = (body: string) =>
    fetch(`${base}/token`, { method: 'POST', headers: { authorization: credential, 'content-type': 'application/x-www-form-urlencoded' }, body });

  test('malformed scopes are refused with 400', async () => {
    for (const scope of ['repository', 'repository:ci/app', 'repository:CI/App:pull', 'repository:ci/app:pull;push', 'repository::pull', ':ci/app:pull', 'repository:ci//app:pull', 'repository:ci/app:pu ll']) {
      const res = await get(`scope=${encodeURIComponent(scope)}`);
      assert.equal(res.status, 400, `${scope}: expected 400, got ${res.status}`);
      assert.equal(await errorCode(res), 'ScopeInvalid');
    }
  });

  test('a 100 KB scope is refused cleanly (431 on GET, 413 on POST), a 3 KB one with 400', async () => {
    const long = 'repository:ci/' + 'a'.repeat(100_000) + ':pull';
    assert.equal((await get(`scope=${long}`)).status, 431);
    const posted = await post(`grant_type=password&service=${SERVICE}&scope=${long}`);
    assert.equal(posted.status, 413);
    assert.equal(await errorCode(posted), 'RequestInvalid');
    const medium = await get(`scope=repository:ci/${'a'.repeat(3_000)}:pull`);
    assert.equal(medium.status, 400);
    assert.equal(await errorCode(medium), 'ScopeInvalid');
  });

  test('10,000 scopes are refused cleanly, and 17 small ones with 400', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => `repository:ci/r${i}:pull`);
    assert.equal((await get(many.map((s) => `scope=${s}`).join('&'))).status, 431);
    assert.equal((await post(`grant_type=password&scope=${encodeURIComponent(many.join(' '))}`)).status, 413);
    const seventeen = many.slice(0, 17);
    const viaGet = await get(seventeen.map((s) => `scope=${s}`).join('&'));
    assert.equal(viaGet.status, 400);
    assert.equal(await errorCode(viaGet), 'ScopeInvalid');
    const viaSpaces = await get(`scope=${encodeURIComponent(seventeen.join(' '))}`);
    assert.equal(viaSpaces.status, 400);
  });

  test('after all of the above the server still issues tokens', async () => {
    const res = await get('scope=repository:ci/app:pull,push');
    assert.equal(res.status, 200);
    secrets.push(((await res.json()) as { token: string }).token);
  });
});

describe('logs', () => {
  test('contain refusals with codes, and no token text at all', () => {
    const text = logs.text();
    assert.ok(logs.lines.some((line) => line.includes('"code":"CredentialInvalid"')), 'refusals are logged with their code');
    for (const secret of secrets) {
      // Check every JWT part and the Basic blob separately: a partial leak is still a leak.
      for (const part of secret.replace(/^(Basic|Bearer) /, '').split('.')) {
        if (part.length >= 16) assert.ok(!text.includes(part), 'a credential appeared in the logs');
      }
    }
    assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}/, 'something JWT-shaped appeared in the logs');
  });
});
