// The floor of the token-service bench: a bare Node HTTP server doing the sts's per-request work and
// nothing else (hash the presented credential for a cache, sign an ES256 JWT of the sts's shape with
// node:crypto, answer the same JSON), no configuration, logger, metrics or framework. The sts can not
// be leaner than this on the same Node binary and flags; bench/sts-token.ts runs it under the same load.
// `node bench/sts-floor.mjs <port-file>`: listens on 127.0.0.1:0 and writes its port to <port-file>.
// JavaScript, not TypeScript: Node's type stripping loads a WebAssembly compiler (70 MiB idle instead of
// 49). Builtins through require: an ESM import of node:http would load undici (hack/bundle.ts).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { createServer } = require('node:http');
const { createHash, generateKeyPairSync, randomUUID, sign } = require('node:crypto');
const { writeFileSync } = require('node:fs');

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
// The size of an x5c header with one P-256 certificate, encoded once as the sts does.
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c: ['A'.repeat(700)] })).toString('base64url');
const seen = new Map();

const server = createServer((req, res) => {
  const key = createHash('sha256').update(req.headers.authorization ?? '').digest('base64url');
  seen.set(key, (seen.get(key) ?? 0) + 1);
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: 'floor', sub: 'bench', aud: 'registry.bench.test', exp: now + 300, nbf: now, iat: now, jti: randomUUID(), access: [{ type: 'repository', name: 'bench/app', actions: ['pull', 'push'] }] };
  const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const token = `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  const body = JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  writeFileSync(process.argv[2], String(address.port));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
