// Where the apiserver is and how to prove who we are to it, from a kubeconfig file or the Pod's mounted
// ServiceAccount: what client-node's KubeConfig did, without importing client-node (about 85 MiB of RSS).
// Errors name the file and the field, never a token, key or password.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { createExecCredentialSource, parseExecConfig, type CredentialSource } from './exec-credential.ts';

export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * A token file is re-read once its cached copy is this old, like client-go's cached token source: the
 * kubelet rotates a projected ServiceAccount token long before it expires, so a minute late is harmless.
 */
export const TOKEN_FILE_MAX_AGE_MS = 60_000;

export interface KubeTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  servername?: string;
}

export interface KubeConnection {
  /** e.g. https://127.0.0.1:6443; a path prefix (an apiserver behind a proxy) is part of it. */
  readonly server: URL;
  /** PEM strings, already read from files / decoded from *-data. */
  readonly tls: KubeTls;
  /** The current context's namespace; in-cluster: the mounted namespace file. */
  readonly namespace: string | undefined;
  /** The Authorization header value for the next request (e.g. `Bearer x`), or undefined (client certs only). */
  authorization(): Promise<string | undefined>;
  /** The server answered 401: forget cached credentials so the next authorization() re-reads / re-runs them. */
  invalidate(): void;
}

export interface LoadKubeConnectionOptions {
  /** A kubeconfig file; otherwise the in-cluster ServiceAccount. `~/.kube/config` is never guessed. */
  kubeconfigPath?: string | undefined;
  /** The process environment: KUBERNETES_SERVICE_HOST/PORT in a cluster, and what exec plugins inherit. */
  env: Readonly<Record<string, string | undefined>>;
  /** For token-file age and exec token expiry. Default: the system clock. */
  now?: () => Date;
  /** Where the ServiceAccount is mounted. Default IN_CLUSTER_DIR. */
  inClusterDir?: string;
  /** An exec credential plugin is killed after this long. Default DEFAULT_EXEC_TIMEOUT_MS (60 s). */
  execTimeoutMs?: number;
}

/**
 * An explicit kubeconfig wins; otherwise the Pod's mounted ServiceAccount (in-cluster). Out of a cluster
 * without a kubeconfig this fails clearly instead of guessing `~/.kube/config`, so a controller never
 * runs by accident with a developer's admin credentials.
 */
export function loadKubeConnection(options: LoadKubeConnectionOptions): KubeConnection {
  return options.kubeconfigPath ? loadKubeconfig(options.kubeconfigPath, options) : loadInCluster(options);
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'error';
}

function withCredentials(server: URL, tls: KubeTls, namespace: string | undefined, source: CredentialSource): KubeConnection {
  return { server, tls, namespace, authorization: () => source.authorization(), invalidate: () => source.invalidate() };
}

const ANONYMOUS: CredentialSource = { authorization: () => Promise.resolve(undefined), invalidate: () => {} };

function staticCredential(authorization: string): CredentialSource {
  return { authorization: () => Promise.resolve(authorization), invalidate: () => {} };
}

/** `what` names the file in errors, e.g. `kubeconfig /x: user "u": tokenFile /y`. */
function readTokenFileSync(path: string, what: string): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new Error(`${what}: cannot read it (${errorCode(error)})`, { cause: error });
  }
  if (token === '') throw new Error(`${what}: the file is empty`);
  return token;
}

/**
 * A bearer token kept in a file that is rotated underneath us. The first read happens at load, so a
 * missing file fails start-up. Should a later re-read fail, the last token is kept (it is most likely
 * still valid, as client-go assumes) and the read is tried again on the next call; after invalidate()
 * the old token is known to be refused, so a failed read is an error.
 */
export function fileTokenCredential(path: string, what: string, now: () => Date): CredentialSource {
  let token: string | undefined = readTokenFileSync(path, what);
  let readAt = now();
  return {
    async authorization() {
      const age = now().getTime() - readAt.getTime();
      if (token !== undefined && age >= 0 && age < TOKEN_FILE_MAX_AGE_MS) return `Bearer ${token}`;
      let fresh = '';
      let failure: unknown;
      try {
        fresh = (await readFile(path, 'utf8')).trim();
      } catch (error) {
        failure = error;
      }
      if (fresh !== '') {
        token = fresh;
        readAt = now();
      } else if (token === undefined) {
        throw new Error(`${what}: ${failure ? `cannot read it (${errorCode(failure)})` : 'the file is empty'}`, failure ? { cause: failure } : undefined);
      }
      return `Bearer ${token}`;
    },
    invalidate() {
      token = undefined;
    },
  };
}

function loadInCluster(options: LoadKubeConnectionOptions): KubeConnection {
  const host = options.env['KUBERNETES_SERVICE_HOST'];
  const port = options.env['KUBERNETES_SERVICE_PORT'];
  if (!host) throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST unset): pass --kubeconfig');
  if (!port || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error('in-cluster: KUBERNETES_SERVICE_PORT must be a port number (1-65535)');
  }
  let server: URL;
  try {
    server = new URL(`https://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`);
  } catch {
    throw new Error('in-cluster: KUBERNETES_SERVICE_HOST is not a host name or IP address');
  }
  const dir = options.inClusterDir ?? IN_CLUSTER_DIR;
  const caFile = join(dir, 'ca.crt');
  const ca = readPemFile(caFile, `in-cluster CA ${caFile}`);
  const tokenFile = join(dir, 'token');
  const token = fileTokenCredential(tokenFile, `in-cluster token ${tokenFile}`, options.now ?? (() => new Date()));
  return withCredentials(server, { ca, rejectUnauthorized: true }, readNamespaceFile(join(dir, 'namespace')), token);
}

function readNamespaceFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;

function readPemFile(path: string, what: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${what}: cannot read it (${errorCode(error)})`, { cause: error });
  }
  if (!PEM.test(pem)) throw new Error(`${what}: holds no PEM block`);
  return pem;
}

type Fields = Record<string, unknown>;

function isRecord(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads one section (a cluster, a user) of a kubeconfig, naming the file and section in every error. */
function sectionReader(file: string, section: string, fields: Fields) {
  const where = `kubeconfig ${file}: ${section}`;
  const fail = (field: string, problem: string): never => {
    throw new Error(`${where}: ${field} ${problem}`);
  };
  const has = (key: string) => fields[key] !== undefined && fields[key] !== null && fields[key] !== '';
  /** client-go treats an empty string as unset. */
  const string = (key: string): string | undefined => {
    const value = fields[key];
    if (value === undefined || value === null || value === '') return undefined;
    return typeof value === 'string' ? value : fail(key, 'must be a string');
  };
  const boolean = (key: string): boolean => {
    const value = fields[key] ?? false;
    return typeof value === 'boolean' ? value : fail(key, 'must be true or false');
  };
  /** `<key>-data` (base64) or `<key>` (a file, relative to the kubeconfig's directory), as PEM. */
  const pem = (key: string): string | undefined => {
    const data = string(`${key}-data`);
    const path = string(key);
    if (data !== undefined && path !== undefined) fail(`${key}-data`, `and ${key} are both set: keep one`);
    if (data !== undefined) {
      const decoded = /^[A-Za-z0-9+/=\s]+$/.test(data) ? Buffer.from(data, 'base64').toString('utf8') : '';
      return PEM.test(decoded) ? decoded : fail(`${key}-data`, 'is not base64 of PEM');
    }
    return path === undefined ? undefined : readPemFile(resolve(dirname(file), path), `${where}: ${key} ${resolve(dirname(file), path)}`);
  };
  return { where, fields, fail, has, string, boolean, pem };
}

/** The `<kind>` entry named `name` in the kubeconfig's list `<kind>s` (`{name, <kind>: {...}}`). */
function namedEntry(file: string, doc: Fields, kind: 'cluster' | 'context' | 'user', name: string, referrer: string): Fields {
  const list = doc[`${kind}s`] ?? [];
  if (!Array.isArray(list)) throw new Error(`kubeconfig ${file}: ${kind}s must be a list`);
  const entry: unknown = list.find((item: unknown) => isRecord(item) && item['name'] === name);
  if (!isRecord(entry)) throw new Error(`kubeconfig ${file}: ${referrer} names ${kind} "${name}", which is not in ${kind}s`);
  const fields = entry[kind] ?? {};
  if (!isRecord(fields)) throw new Error(`kubeconfig ${file}: ${kind} "${name}": ${kind} must be a mapping`);
  return fields;
}

function parseKubeconfig(file: string): Fields {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`kubeconfig ${file}: cannot read it (${errorCode(error)})`, { cause: error });
  }
  let doc: unknown;
  try {
    // Warnings would go to the console quoting the file; only errors matter, and they are reported below.
    doc = parse(text, { logLevel: 'error' });
  } catch (error) {
    // The parser's message quotes the offending line, which may hold a token: keep only its position.
    const at = (error as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    throw new Error(`kubeconfig ${file}: not valid YAML or JSON${at ? ` (line ${at.line}, column ${at.col})` : ''}`);
  }
  if (!isRecord(doc)) throw new Error(`kubeconfig ${file}: not a kubeconfig (expected a mapping with clusters, contexts and users)`);
  return doc;
}

function parseServer(cluster: ReturnType<typeof sectionReader>): URL {
  const value = cluster.string('server') ?? cluster.fail('server', 'is not set');
  // kubectl would guess a scheme for `host:port`; a controller's target is better spelled out.
  const server = URL.canParse(value) ? new URL(value) : undefined;
  if (server?.protocol !== 'https:' && server?.protocol !== 'http:') return cluster.fail('server', 'must be an http(s) URL such as https://host:6443');
  if (server.username || server.password || server.search || server.hash) {
    return cluster.fail('server', 'must not carry credentials, a query or a fragment');
  }
  return server;
}

const IMPERSONATION = ['as', 'as-uid', 'as-groups', 'as-user-extra'];

function loadKubeconfig(path: string, options: LoadKubeConnectionOptions): KubeConnection {
  const file = resolve(path);
  const doc = parseKubeconfig(file);
  const now = options.now ?? (() => new Date());

  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') throw new Error(`kubeconfig ${file}: current-context is not set`);
  const context = sectionReader(file, `context "${contextName}"`, namedEntry(file, doc, 'context', contextName, 'current-context'));
  const clusterName = context.string('cluster') ?? context.fail('cluster', 'is not set');
  const userName = context.string('user');

  const cluster = sectionReader(file, `cluster "${clusterName}"`, namedEntry(file, doc, 'cluster', clusterName, `context "${contextName}"`));
  const server = parseServer(cluster);
  if (cluster.has('proxy-url')) cluster.fail('proxy-url', 'is set: connecting through a proxy is not supported');
  const insecure = cluster.boolean('insecure-skip-tls-verify');
  const ca = cluster.pem('certificate-authority');
  if (insecure && ca !== undefined) cluster.fail('insecure-skip-tls-verify', 'is true but a certificate authority is set: keep one (as kubectl requires)');
  const servername = cluster.string('tls-server-name');
  const tls: KubeTls = { ca, rejectUnauthorized: !insecure, servername };
  const namespace = context.string('namespace');
  if (userName === undefined) return withCredentials(server, tls, namespace, ANONYMOUS);

  const user = sectionReader(file, `user "${userName}"`, namedEntry(file, doc, 'user', userName, `context "${contextName}"`));
  if (user.has('auth-provider')) user.fail('auth-provider', 'is set: auth providers are not supported, use an exec credential plugin');
  for (const key of IMPERSONATION) if (user.has(key)) user.fail(key, 'is set: impersonation is not supported');
  tls.cert = user.pem('client-certificate');
  tls.key = user.pem('client-key');
  if ((tls.cert === undefined) !== (tls.key === undefined)) user.fail('client-certificate', 'and client-key must be set together');

  // client-go spells it tokenFile; client-node wrote token-file.
  const tokenFileKey = user.has('tokenFile') ? 'tokenFile' : 'token-file';
  const methods = [
    user.has('token') || user.has(tokenFileKey) ? 'token' : undefined,
    user.has('username') || user.has('password') ? 'username/password' : undefined,
    user.has('exec') ? 'exec' : undefined,
  ].filter((method) => method !== undefined);
  if (methods.length > 1) user.fail(methods.join(' and '), 'are set: keep one authentication method');

  const tokenFile = user.string(tokenFileKey);
  if (tokenFile !== undefined) {
    const tokenPath = resolve(dirname(file), tokenFile);
    return withCredentials(server, tls, namespace, fileTokenCredential(tokenPath, `${user.where}: ${tokenFileKey} ${tokenPath}`, now));
  }
  const token = user.string('token');
  if (token !== undefined) return withCredentials(server, tls, namespace, staticCredential(`Bearer ${token}`));
  const username = user.string('username');
  if (username !== undefined || user.has('password')) {
    if (username === undefined) return user.fail('password', 'is set without username');
    const basic = Buffer.from(`${username}:${user.string('password') ?? ''}`).toString('base64');
    return withCredentials(server, tls, namespace, staticCredential(`Basic ${basic}`));
  }
  if (user.has('exec')) {
    if (tls.cert !== undefined) user.fail('exec', 'and client-certificate are both set: keep one authentication method');
    const source = createExecCredentialSource({
      exec: parseExecConfig(user.fields['exec'], dirname(file), user.fail),
      env: options.env,
      cluster: execClusterInfo(server, tls, cluster.fields),
      now,
      timeoutMs: options.execTimeoutMs,
    });
    return withCredentials(server, tls, namespace, source);
  }
  return withCredentials(server, tls, namespace, ANONYMOUS);
}

/** `spec.cluster` of KUBERNETES_EXEC_INFO (client.authentication.k8s.io Cluster), for provideClusterInfo. */
function execClusterInfo(server: URL, tls: KubeTls, fields: Fields): Record<string, unknown> {
  const info: Record<string, unknown> = { server: server.href.replace(/\/$/, '') };
  if (tls.servername) info['tls-server-name'] = tls.servername;
  if (!tls.rejectUnauthorized) info['insecure-skip-tls-verify'] = true;
  if (tls.ca) info['certificate-authority-data'] = Buffer.from(tls.ca).toString('base64');
  // Per-cluster plugin settings travel in this extension (client-go's clusterExtensionKey).
  const extensions = fields['extensions'];
  const extension: unknown = Array.isArray(extensions)
    ? extensions.find((e: unknown) => isRecord(e) && e['name'] === 'client.authentication.k8s.io/exec')
    : undefined;
  if (isRecord(extension) && extension['extension'] !== undefined) info['config'] = extension['extension'];
  return info;
}
