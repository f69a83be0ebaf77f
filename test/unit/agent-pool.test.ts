// The keep-alive pool of the API transport, against a real TLS server on loopback that asks for client
// certificates: requests with the same material share one connection, a new material (a rotated
// client certificate) gets a new connection that presents the new certificate, and the name a request's
// connection is looked up by does not carry the PEM material.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, createServer, type Agent as HttpsAgent, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAgentPool } from '../../src/kube/agent-pool.ts';
import type { KubeTls } from '../../src/kube/kube-config.ts';
import { createCertificateAuthority, issueCertificate } from '../support/pki.ts';

describe('agent pool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-agent-pool-'));
  const ca = createCertificateAuthority(dir);
  const serverPair = issueCertificate(ca, { commonName: 'apiserver', sans: ['127.0.0.1'] });
  const alice = issueCertificate(ca, { commonName: 'alice' });
  const bob = issueCertificate(ca, { commonName: 'bob' });
  let server: Server;
  let port = 0;
  let connections = 0;

  before(async () => {
    server = createServer({ cert: serverPair.certPem, key: serverPair.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.end((req.socket as TLSSocket).getPeerCertificate().subject.CN);
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (tls: KubeTls, pool: ReturnType<typeof createAgentPool>) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ hostname: '127.0.0.1', port, path: '/', agent: pool.agentFor(tls) }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve(body));
      });
      req.on('error', reject).end();
    });

  it('shares one connection per material and opens a new one, with the new certificate, when it changes', async () => {
    const pool = createAgentPool({ secure: true, maxSockets: 4 });
    try {
      const asAlice: KubeTls = { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem, rejectUnauthorized: true };
      const before = connections;
      const aliceAgent = pool.agentFor(asAlice);
      for (let i = 0; i < 3; i++) assert.equal(await get(asAlice, pool), 'alice');
      // An equal material in another object is the same pool.
      assert.equal(await get({ ...asAlice }, pool), 'alice');
      assert.equal(connections - before, 1);

      const asBob: KubeTls = { ca: ca.certPem, cert: bob.certPem, key: bob.keyPem, rejectUnauthorized: true };
      assert.notEqual(pool.agentFor(asBob), aliceAgent, 'a new material is a new agent');
      assert.equal(await get(asBob, pool), 'bob');
      assert.equal(await get(asBob, pool), 'bob');
      assert.equal(connections - before, 2);
    } finally {
      pool.destroy();
    }
  });

  it('names a connection without the TLS material', () => {
    const pool = createAgentPool({ secure: true, maxSockets: 4 });
    try {
      const agent = pool.agentFor({ ca: ca.certPem, cert: alice.certPem, key: alice.keyPem });
      const name = agent.getName({ host: '127.0.0.1', port, ...(agent as HttpsAgent).options });
      assert.ok(name.startsWith(`127.0.0.1:${port}:`), name);
      assert.ok(!name.includes('BEGIN'), name);
    } finally {
      pool.destroy();
    }
  });
});
