// Shared setup for the token-service tests: throwaway issuer keys, a signing key with a certificate,
// a configuration file on disk, the real server on 127.0.0.1, and the log lines it wrote.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { stringify as toYaml } from 'yaml';
import { startStsProcess, type RunningSts, type StsProcessIo } from '../../src/cmd/sts.ts';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority, type KeyPairFiles } from '../support/pki.ts';
import { scratchDir } from '../support/scratch.ts';

export interface TestIssuer {
  name: string;
  issuer: string;
  audience: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
  /** Signs claims with this issuer's key; defaults make a valid token for `subject`. */
  sign(subject: string, overrides?: { claims?: Record<string, unknown>; header?: Record<string, unknown>; lifetimeSeconds?: number; iat?: number }): Promise<string>;
}

export async function createTestIssuer(name: string, alg: 'RS256' | 'ES256' = 'ES256'): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${name}-key-1`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const issuer = `https://${name}.issuer.test`;
  const audience = 'kube-regcred-sts';
  return {
    name,
    issuer,
    audience,
    privateKey,
    publicJwk,
    kid,
    async sign(subject, overrides = {}) {
      const iat = overrides.iat ?? Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: issuer, aud: audience, sub: subject, iat, exp: iat + (overrides.lifetimeSeconds ?? 600), ...overrides.claims })
        .setProtectedHeader({ alg, kid, ...overrides.header })
        .sign(privateKey);
    },
  };
}

export interface SigningMaterial {
  ca: CertificateAuthority;
  leaf: KeyPairFiles;
}

export function createSigningMaterial(keyType: 'ec' | 'rsa' = 'ec', dir = scratchDir('sts-pki-')): SigningMaterial {
  const ca = createCertificateAuthority(dir, 'kube-regcred sts test root');
  const leaf = issueCertificate(ca, { commonName: 'kube-regcred sts token signer', keyType, fileStem: `signer-${keyType}` });
  return { ca, leaf };
}

export const SERVICE = 'registry.test';
export const TOKEN_ISSUER = 'kube-regcred-sts-test';

/** A configuration with two issuers (a, b) and identities that tests refer to by UID. */
export function baseConfig(a: TestIssuer, b: TestIssuer, signing: SigningMaterial, headerStyle = 'x5c'): Record<string, unknown> {
  const issuer = (i: TestIssuer) => ({ name: i.name, issuer: i.issuer, audiences: [i.audience], jwks: { keys: [i.publicJwk] } });
  return {
    service: SERVICE,
    tokenIssuer: TOKEN_ISSUER,
    realm: 'https://sts.test/token',
    exchangeAudiences: ['registry.alias.test'],
    lifetimes: { exchange: '10m', registry: '5m' },
    signing: { keyFile: signing.leaf.keyFile, certificateFile: signing.leaf.certFile, headerStyle },
    issuers: [issuer(a), issuer(b)],
    identities: [
      { uid: 'builder', issuer: a.name, subject: 'system:serviceaccount:ci:builder', grants: [{ repository: 'ci/**', actions: ['pull', 'push'] }, { repository: 'base/*', actions: ['pull'] }] },
      { uid: 'reader', issuer: a.name, subjectPattern: 'system:serviceaccount:team-*:reader', grants: [{ repository: '**', actions: ['pull'] }] },
      {
        uid: 'conditional',
        issuer: a.name,
        subjectPattern: 'repo:org/*:**',
        condition: 'claims.ref == "refs/heads/main"',
        grants: [{ repository: 'org/*', actions: ['pull', 'push'] }],
      },
      { uid: 'b-only', issuer: b.name, subject: 'b-subject', grants: [{ repository: 'b/*', actions: ['pull'] }] },
    ],
  };
}

export function writeConfig(dir: string, config: unknown, name = 'config.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, toYaml(config));
  return path;
}

export interface LogCapture {
  lines: string[];
  stream: Writable;
  text(): string;
}

export function captureLogs(): LogCapture {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { lines, stream, text: () => lines.join('\n') };
}

export async function startTestSts(configPath: string, logs: LogCapture, io: StsProcessIo = {}): Promise<RunningSts> {
  return startStsProcess(
    { configPath, listen: { host: '127.0.0.1', port: 0 }, ops: { host: '127.0.0.1', port: 0 }, shutdownGraceMs: 1_000, logLevel: 'debug' },
    { logDestination: logs.stream, watch: { debounceMs: 50, pollIntervalMs: 0 }, ...io },
  );
}

export function basic(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`).toString('base64');
}

export function decodePart(jwt: string, part: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[part]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
