// GitHub Actions' two OIDC endpoints, as servers of the test's own on loopback (GitHub's real ones
// cannot be reached from here; this speaks their documented shapes, it is not verified against them):
// - an OIDC issuer over HTTPS (discovery + JWKS) signing GitHub-shaped claims, which the sts trusts
//   like https://token.actions.githubusercontent.com;
// - the runner's token endpoint: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=X with
//   `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` -> {"value": "<jwt>"}.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CertificateAuthority } from './pki.ts';
import { issueCertificate } from './pki.ts';

/** The claims GitHub puts in a job's token that policies look at. */
export interface JobClaims {
  repository: string;
  ref: string;
  environment?: string;
  /** Default `<repository>/.github/workflows/build.yml@<ref>`. */
  job_workflow_ref?: string;
  event_name?: string;
}

export interface GithubOidc {
  /** The issuer URL (`iss`), https on 127.0.0.1. */
  issuer: string;
  /** PEM of the CA that signed the issuer's certificate: the sts's `caFile`. */
  caFile: string;
  /** A job token as GitHub would sign it for these claims. */
  sign(claims: JobClaims, audience: string): Promise<string>;
  /** The runner endpoint's environment for a job with these claims. */
  jobEnvironment(claims: JobClaims): { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  /** Every JWT the runner endpoint handed out (to search logs for). */
  readonly issued: string[];
  /** Requests to the runner endpoint: the audience asked for, and whether the request token was right. */
  readonly requests: Array<{ audience: string | null; authorized: boolean }>;
  stop(): Promise<void>;
}

function listening(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** The sub GitHub builds by default: repo:<owner/repo>:environment:<env> or repo:<owner/repo>:ref:<ref>. */
export function githubSubject(claims: JobClaims): string {
  return claims.environment ? `repo:${claims.repository}:environment:${claims.environment}` : `repo:${claims.repository}:ref:${claims.ref}`;
}

export async function startGithubOidc(ca: CertificateAuthority): Promise<GithubOidc> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const tls = issueCertificate(ca, { commonName: 'github oidc test issuer', sans: ['127.0.0.1'], fileStem: `github-oidc-${kid.slice(0, 8)}` });
  let issuer = '';
  const https = createHttpsServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    const send = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/.well-known/openid-configuration') {
      send({ issuer, jwks_uri: `${issuer}/.well-known/jwks`, subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] });
    } else if (req.url === '/.well-known/jwks') {
      send(jwks);
    } else {
      res.writeHead(404).end();
    }
  });
  issuer = `https://127.0.0.1:${await listening(https)}`;

  const sign = async (claims: JobClaims, audience: string): Promise<string> => {
    const [owner] = claims.repository.split('/');
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      repository: claims.repository,
      repository_owner: owner,
      ref: claims.ref,
      ...(claims.environment ? { environment: claims.environment } : {}),
      job_workflow_ref: claims.job_workflow_ref ?? `${claims.repository}/.github/workflows/build.yml@${claims.ref}`,
      event_name: claims.event_name ?? 'push',
      ref_type: claims.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
      runner_environment: 'github-hosted',
    })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(githubSubject(claims))
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 300)
      .setJti(randomUUID())
      .sign(privateKey);
  };

  // One request token per job, each bound to that job's claims.
  const jobs = new Map<string, JobClaims>();
  const issued: string[] = [];
  const requests: GithubOidc['requests'] = [];
  const runner = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://runner.invalid');
    const bearer = /^bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const claims = bearer ? jobs.get(bearer) : undefined;
    const audience = url.searchParams.get('audience');
    requests.push({ audience, authorized: claims !== undefined });
    if (url.pathname !== '/_apis/distributedtask/token' || url.searchParams.get('api-version') !== '2.0') {
      res.writeHead(404).end();
      return;
    }
    if (!claims) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Unauthorized' }));
      return;
    }
    sign(claims, audience ?? `https://github.com/${claims.repository.split('/')[0]}`).then((value) => {
      issued.push(value);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: 1, value }));
    });
  });
  const runnerPort = await listening(runner);

  return {
    issuer,
    caFile: ca.certFile,
    sign,
    jobEnvironment(claims) {
      const requestToken = randomBytes(24).toString('base64url');
      jobs.set(requestToken, claims);
      return {
        ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${runnerPort}/_apis/distributedtask/token?api-version=2.0`,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken,
      };
    },
    issued,
    requests,
    async stop() {
      await close(https);
      await close(runner);
    },
  };
}
