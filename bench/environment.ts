// What the numbers were measured on: the machine, the versions of every component, the date.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import type { KubeHttp } from './kube-http.ts';

export interface Environment {
  date: string;
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kubeApiserver: string;
  etcd: string;
}

function firstLine(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
  } catch {
    return 'unknown';
  }
}

export async function describeEnvironment(nodeBinary: string, admin: KubeHttp): Promise<Environment> {
  const version = await admin.ok<{ gitVersion?: string }>('GET', '/version').catch(() => ({ gitVersion: 'unknown' }));
  return {
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: firstLine(nodeBinary, ['--version']),
    kubeApiserver: version.gitVersion ?? 'unknown',
    etcd: firstLine('etcd', ['--version']).replace(/^etcd Version:\s*/, ''),
  };
}
