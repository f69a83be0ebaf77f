// Keep-alive connection pools keyed by the TLS material of the request: every call with the same CA,
// client certificate and key reuses one pool (client-node's own agent would open a connection per call
// and never notices a rotated certificate). When the material changes (an exec plugin's new certificate,
// a rotated file), a new pool starts and the old one closes each socket as soon as it is idle.
import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import type { KubeTls } from './kube-config.ts';

export interface AgentPool {
  agentFor(tls: KubeTls): HttpAgent;
  destroy(): void;
}

// The connection reuses one KubeTls object for a while (kube-config.ts): hash each object once.
const materialOf = new WeakMap<KubeTls, string>();

function material(tls: KubeTls): string {
  const known = materialOf.get(tls);
  if (known !== undefined) return known;
  const key = hashMaterial(tls);
  materialOf.set(tls, key);
  return key;
}

function hashMaterial(tls: KubeTls): string {
  const hash = createHash('sha256');
  for (const part of [tls.ca, tls.cert, tls.key, tls.servername, String(tls.rejectUnauthorized)]) {
    hash.update(part === undefined ? '\0' : part);
    hash.update('\x01');
  }
  return hash.digest('hex');
}

/**
 * An agent whose TLS options are fixed for its life, as every agent of this pool is (a new material is
 * a new agent). node:https names the connection a request may reuse by concatenating those options
 * into a string (CA, client certificate and key: 4 KiB with a client certificate), three times per
 * request; with one material per agent, host, port and local address name it alone. That string was
 * 5 % of what the controller allocated while it wrote Secrets (docs/controller.md).
 */
class OneMaterialAgent extends HttpsAgent {
  override getName(options?: RequestOptions): string {
    return HttpAgent.prototype.getName.call(this, options);
  }
}

function retire(agent: HttpAgent): void {
  agent.on('free', (socket) => socket.destroy());
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

export function createAgentPool(options: { secure: boolean; maxSockets: number }): AgentPool {
  let current: { key: string; agent: HttpAgent } | undefined;
  const retired: HttpAgent[] = [];
  return {
    agentFor(tls) {
      if (!options.secure) {
        current ??= { key: '', agent: new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets }) };
        return current.agent;
      }
      const key = material(tls);
      if (current?.key === key) return current.agent;
      if (current) {
        retire(current.agent);
        retired.push(current.agent);
      }
      const { ca, cert, key: privateKey, servername, rejectUnauthorized } = tls;
      current = { key, agent: new OneMaterialAgent({ keepAlive: true, maxSockets: options.maxSockets, ca, cert, key: privateKey, servername, rejectUnauthorized }) };
      return current.agent;
    },
    destroy() {
      current?.agent.destroy();
      for (const agent of retired.splice(0)) agent.destroy();
    },
  };
}
