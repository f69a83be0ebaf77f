// kubeconfig `exec` credential plugins (client.authentication.k8s.io ExecCredential, as client-go runs
// them): the plugin's token is cached until shortly before it expires, and one run serves every caller.
// A plugin's output is credential material: no error here ever quotes it.
import { spawn } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';
import type { KubeConnection } from './kube-connection.ts';

export const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type ExecApiVersion = (typeof EXEC_API_VERSIONS)[number];

/** A token is replaced this long before its expirationTimestamp, so it does not expire on the way. */
export const EXEC_EXPIRY_MARGIN_MS = 10_000;
/** client-go waits for a plugin forever; a controller must not hang on one, so it is killed after this. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** An ExecCredential is a few KiB; more is not one, and is not kept in memory. */
const MAX_OUTPUT_BYTES = 1024 * 1024;

/** The `user.exec` stanza of a kubeconfig, validated. */
export interface ExecConfig {
  /** Absolute when the kubeconfig named a relative path with a separator; else looked up in PATH. */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly apiVersion: ExecApiVersion;
  readonly provideClusterInfo: boolean;
  readonly installHint: string | undefined;
}

export type CredentialSource = Pick<KubeConnection, 'authorization' | 'invalidate'>;

/** Reports a problem with one field of the exec stanza (the caller adds the file and the user). */
export type ExecConfigFail = (field: string, problem: string) => never;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isApiVersion(value: unknown): value is ExecApiVersion {
  return (EXEC_API_VERSIONS as readonly unknown[]).includes(value);
}

/**
 * Validates `user.exec`. `baseDir` is the kubeconfig's directory: like client-go, a command naming a
 * relative path (one with a separator) is resolved against it; a bare name is looked up in PATH.
 */
export function parseExecConfig(raw: unknown, baseDir: string, fail: ExecConfigFail): ExecConfig {
  if (!isRecord(raw)) return fail('exec', 'must be a mapping');
  const command = raw['command'];
  if (typeof command !== 'string' || command === '') return fail('exec.command', 'must be a non-empty string');
  const args = raw['args'] ?? [];
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string')) return fail('exec.args', 'must be a list of strings');
  const rawEnv = raw['env'] ?? [];
  if (!Array.isArray(rawEnv)) return fail('exec.env', 'must be a list of {name, value}');
  const env = rawEnv.map((entry: unknown, i) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string' || entry['name'] === '' || typeof entry['value'] !== 'string') {
      return fail(`exec.env[${i}]`, 'must have a non-empty string name and a string value');
    }
    return { name: entry['name'], value: entry['value'] };
  });
  const apiVersion = raw['apiVersion'];
  if (!isApiVersion(apiVersion)) {
    return fail('exec.apiVersion', `must be one of ${EXEC_API_VERSIONS.join(', ')} (v1alpha1 was removed from Kubernetes)`);
  }
  const interactiveMode = raw['interactiveMode'];
  if (interactiveMode === 'Always') {
    return fail('exec.interactiveMode', 'is Always, but a controller has no terminal: use a plugin that works with IfAvailable or Never');
  }
  if (interactiveMode !== undefined && interactiveMode !== null && interactiveMode !== 'IfAvailable' && interactiveMode !== 'Never') {
    return fail('exec.interactiveMode', 'must be Never, IfAvailable or Always');
  }
  const provideClusterInfo = raw['provideClusterInfo'] ?? false;
  if (typeof provideClusterInfo !== 'boolean') return fail('exec.provideClusterInfo', 'must be true or false');
  const installHint = raw['installHint'];
  if (installHint !== undefined && installHint !== null && typeof installHint !== 'string') return fail('exec.installHint', 'must be a string');
  return {
    command: command.includes('/') && !isAbsolute(command) ? resolve(baseDir, command) : command,
    args,
    env,
    apiVersion,
    provideClusterInfo,
    installHint: installHint || undefined,
  };
}

export interface ExecCredentialSourceOptions {
  exec: ExecConfig;
  /** The plugin's environment before `exec.env` and KUBERNETES_EXEC_INFO are added. */
  env: Readonly<Record<string, string | undefined>>;
  /** `spec.cluster` of KUBERNETES_EXEC_INFO; sent only when `exec.provideClusterInfo` is set. */
  cluster: Readonly<Record<string, unknown>>;
  now: () => Date;
  /** Default DEFAULT_EXEC_TIMEOUT_MS. */
  timeoutMs?: number | undefined;
}

interface ExecToken {
  readonly token: string;
  readonly expiresAt: Date | undefined;
}

/**
 * Runs the plugin when a token is needed: the first time, when the cached one is about to expire, and
 * after invalidate() (a token without expirationTimestamp is kept until then). Callers arriving while a
 * run is under way share it. A failed run is not cached: the next call runs the plugin again.
 */
export function createExecCredentialSource(options: ExecCredentialSourceOptions): CredentialSource {
  let cached: { authorization: string; renewAt: Date | undefined } | undefined;
  let pending: Promise<string> | undefined;

  const fetch = async (): Promise<string> => {
    const { token, expiresAt } = await runExecPlugin(options);
    const authorization = `Bearer ${token}`;
    const renewAt = expiresAt && new Date(expiresAt.getTime() - EXEC_EXPIRY_MARGIN_MS);
    // Already (nearly) expired: good for this request only, never cached, so no caller loops on it.
    cached = renewAt === undefined || renewAt > options.now() ? { authorization, renewAt } : undefined;
    return authorization;
  };

  return {
    authorization() {
      if (cached && (cached.renewAt === undefined || options.now() < cached.renewAt)) return Promise.resolve(cached.authorization);
      cached = undefined;
      pending ??= fetch().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    invalidate() {
      cached = undefined;
    },
  };
}

function execInfo(options: ExecCredentialSourceOptions): string {
  const spec: Record<string, unknown> = { interactive: false };
  if (options.exec.provideClusterInfo) spec['cluster'] = options.cluster;
  return JSON.stringify({ kind: 'ExecCredential', apiVersion: options.exec.apiVersion, spec });
}

function pluginEnv(options: ExecCredentialSourceOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.env)) if (value !== undefined) env[name] = value;
  for (const { name, value } of options.exec.env) env[name] = value;
  env['KUBERNETES_EXEC_INFO'] = execInfo(options);
  return env;
}

/** Runs the plugin once, non-interactively (no stdin; stderr goes to ours, as with kubectl). */
export function runExecPlugin(options: ExecCredentialSourceOptions): Promise<ExecToken> {
  const { exec } = options;
  const name = `exec credential plugin "${exec.command}"`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: Error | undefined;
    const child = spawn(exec.command, exec.args, { env: pluginEnv(options), stdio: ['ignore', 'pipe', 'inherit'] });
    const stop = (error: Error) => {
      failure ??= error;
      child.kill('SIGKILL');
      // A grandchild (sh → sleep) can keep the pipe open after the plugin died; 'close' must not wait for it.
      child.stdout.destroy();
    };
    const timer = setTimeout(() => stop(new Error(`${name} did not finish within ${timeoutMs} ms`)), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) stop(new Error(`${name} printed more than ${MAX_OUTPUT_BYTES} bytes, which is no ExecCredential`));
      else chunks.push(chunk);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'ENOENT' && exec.installHint ? `: ${exec.installHint}` : '';
      failure ??= new Error(`${name} could not be started (${error.code ?? 'error'})${hint}`, { cause: error });
      if (child.pid === undefined) {
        clearTimeout(timer);
        reject(failure);
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code !== 0) return reject(new Error(`${name} failed (${signal ? `killed by ${signal}` : `exit code ${code}`}); its stderr has the reason`));
      try {
        resolvePromise(parseExecCredential(Buffer.concat(chunks).toString('utf8'), exec.apiVersion, name));
      } catch (error) {
        reject(error);
      }
    });
  });
}

// A bearer token goes into a header: control characters or spaces would break it or smuggle another.
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/** Reads the plugin's stdout; errors name the problem, never the content (JSON.parse's message quotes it). */
export function parseExecCredential(stdout: string, apiVersion: ExecApiVersion, name: string): ExecToken {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error(`${name} printed something that is not an ExecCredential (not JSON)`);
  }
  if (!isRecord(doc) || doc['kind'] !== 'ExecCredential') throw new Error(`${name} printed something that is not an ExecCredential (kind)`);
  if (doc['apiVersion'] !== apiVersion) {
    const got = isApiVersion(doc['apiVersion']) ? doc['apiVersion'] : 'another one';
    throw new Error(`${name} is configured for ${apiVersion} but answered with ${got}`);
  }
  const status = doc['status'];
  if (!isRecord(status)) throw new Error(`${name} returned no status`);
  if (status['clientCertificateData'] || status['clientKeyData']) {
    throw new Error(`${name} returned a client certificate: not supported yet, only plugins that return a token`);
  }
  const token = status['token'];
  if (typeof token !== 'string' || token === '') throw new Error(`${name} returned no status.token`);
  if (!HEADER_SAFE.test(token)) throw new Error(`${name} returned a status.token with characters not allowed in an HTTP header`);
  const expiration = status['expirationTimestamp'];
  if (expiration === undefined || expiration === null) return { token, expiresAt: undefined };
  const expiresAt = typeof expiration === 'string' ? new Date(expiration) : undefined;
  if (!expiresAt || Number.isNaN(expiresAt.getTime())) throw new Error(`${name} returned a status.expirationTimestamp that is not an RFC 3339 time`);
  return { token, expiresAt };
}
