// Where the apiserver is and how to prove who we are to it: client-node's KubeConfig reads the kubeconfig
// (or the Pod's mounted ServiceAccount) and, per request, fills in the TLS material and the headers of
// every auth method it knows (token, token file, exec plugins returning a token or a certificate, OIDC,
// impersonation, basic, proxy-url). What is added here: the refusal to guess ~/.kube/config, client-go's
// `tokenFile` field (client-node knows only its own `token-file`, read once), and errors that name the file
// and never quote it (a YAML error's snippet or a plugin's stderr can hold a token).
import type { Agent } from 'node:http';
import type { RequestOptions } from 'node:https';
import { readFileSync } from 'node:fs';
import { delimiter, dirname, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';

export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How long one evaluation of the credentials serves later requests. */
export const AUTH_REUSE_MS = 1_000;
/** How long producing credentials (an exec plugin, an OIDC refresh) may take before the request fails. */
export const CREDENTIAL_TIMEOUT_MS = 60_000;

/** TLS material of the next request; a change (a rotated client certificate) means a new connection pool. */
export interface KubeTls {
  ca?: string | Buffer | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  rejectUnauthorized?: boolean | undefined;
  servername?: string | undefined;
}

export interface KubeRequestAuth {
  /** Authorization, Impersonate-User, ...: header names lower-cased. */
  headers: Record<string, string>;
  tls: KubeTls;
  /** client-node's agent, only when the kubeconfig names a proxy-url (it tunnels through the proxy). */
  proxyAgent?: Agent | undefined;
}

export interface KubeConnection {
  /** e.g. https://127.0.0.1:6443; a path prefix (an apiserver behind a proxy) is part of it. */
  readonly server: URL;
  /** The current context's namespace; in-cluster: the mounted namespace file. */
  readonly namespace: string | undefined;
  /** TLS and headers for the next request (exec plugins run, token files re-read, as KubeConfig decides). */
  requestAuth(): Promise<KubeRequestAuth>;
}

export interface LoadKubeConnectionOptions {
  /** Kubeconfig files (KUBECONFIG's `a:b` form merges them); otherwise the in-cluster ServiceAccount. */
  kubeconfigPath?: string | undefined;
  /** KUBERNETES_SERVICE_HOST/PORT tell a Pod; client-node itself reads process.env (the same in production). */
  env: Readonly<Record<string, string | undefined>>;
  /** Prefix before /var/run/secrets/... (loadFromCluster's pathPrefix): tests point it at a directory. */
  inClusterRoot?: string;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'error';
}

/** A load error without the file's content: js-yaml's message quotes the offending lines. */
function loadError(file: string, error: unknown): Error {
  const err = error as { name?: string; code?: string; mark?: { line?: number; column?: number }; message?: string };
  if (err?.code) return new Error(`kubeconfig ${file}: cannot read it (${err.code})`);
  if (err?.name === 'YAMLException') {
    const at = err.mark?.line === undefined ? '' : ` (line ${err.mark.line + 1}, column ${(err.mark.column ?? 0) + 1})`;
    return new Error(`kubeconfig ${file}: not valid YAML or JSON${at}`);
  }
  // client-node's own checks ("users[0].name is missing") name fields, never values.
  return new Error(`kubeconfig ${file}: ${err?.message ?? 'cannot load it'}`);
}

/**
 * client-go's `tokenFile` (a projected token that rotates) is unknown to client-node 2.0.1. Its FileAuth,
 * which loadFromCluster uses, re-reads a token file every 60 s: hand such users to it the same way.
 */
function adoptTokenFiles(kc: KubeConfig, file: string): void {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'), { logLevel: 'silent' });
  } catch {
    return;
  }
  const users = (doc as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) return;
  for (const entry of users as Array<{ name?: unknown; user?: { tokenFile?: unknown; 'token-file'?: unknown } }>) {
    const tokenFile = entry?.user?.tokenFile ?? entry?.user?.['token-file'];
    if (typeof tokenFile !== 'string' || tokenFile === '' || typeof entry.name !== 'string') continue;
    const user = kc.getUser(entry.name);
    if (!user || user.authProvider) continue;
    Object.assign(user, { token: undefined, authProvider: { name: 'tokenFile', config: { tokenFile: resolve(dirname(file), tokenFile) } } });
  }
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (error) {
    throw loadError(file, error);
  }
  adoptTokenFiles(kc, file);
  return kc;
}

/** As kubectl with KUBECONFIG=a:b: the first file's current-context wins, entries merge in order. */
export function loadKubeConfig(options: LoadKubeConnectionOptions): KubeConfig {
  if (options.kubeconfigPath) {
    const files = options.kubeconfigPath.split(delimiter).filter(Boolean).map((f) => resolve(f));
    const kc = loadFile(files[0]!);
    for (const file of files.slice(1)) {
      try {
        kc.mergeConfig(loadFile(file), true);
      } catch (error) {
        throw loadError(file, error);
      }
    }
    const where = `kubeconfig ${files.join(delimiter)}`;
    if (!kc.getCurrentContext()) throw new Error(`${where}: current-context is not set`);
    if (!kc.getContextObject(kc.getCurrentContext())) throw new Error(`${where}: current-context names context "${kc.getCurrentContext()}", which is not in contexts`);
    if (!kc.getCurrentCluster()) throw new Error(`${where}: context "${kc.getCurrentContext()}" names a cluster which is not in clusters`);
    return kc;
  }
  // Out of a cluster without a kubeconfig this fails clearly instead of guessing ~/.kube/config, so a
  // controller never runs by accident with a developer's admin credentials.
  if (!options.env['KUBERNETES_SERVICE_HOST']) throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST unset): pass --kubeconfig');
  const port = options.env['KUBERNETES_SERVICE_PORT'];
  if (!port || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new Error('in-cluster: KUBERNETES_SERVICE_PORT must be a port number (1-65535)');
  }
  const root = options.inClusterRoot ?? '';
  for (const name of ['ca.crt', 'token']) {
    const path = `${root}${IN_CLUSTER_DIR}/${name}`;
    try {
      readFileSync(path);
    } catch (error) {
      throw new Error(`in-cluster ${name === 'token' ? 'token' : 'CA'} ${path}: cannot read it (${errorCode(error)})`);
    }
  }
  const kc = new KubeConfig();
  kc.loadFromCluster(root);
  return kc;
}

/** Why credentials could not be produced, without what a plugin printed (its stderr may hold a token). */
function credentialError(kc: KubeConfig, error: unknown): Error {
  const user = kc.getCurrentUser();
  const command = user?.exec?.command ?? (user?.authProvider?.config as { exec?: { command?: string } } | undefined)?.exec?.command;
  const code = errorCode(error);
  if (command) return new Error(`exec credential plugin "${command}" failed${code !== 'error' ? ` (${code})` : ''}`);
  const tokenFile = (user?.authProvider?.config as { tokenFile?: string } | undefined)?.tokenFile;
  if (tokenFile) return new Error(`token file ${tokenFile}: cannot read it (${code})`);
  return new Error(`${user?.authProvider?.name ?? 'kubeconfig'} credentials failed (${code})`);
}

export function kubeConnection(kc: KubeConfig): KubeConnection {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig: no current cluster');
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    throw new Error(`kubeconfig: cluster "${cluster.name}": server must be an http(s) URL such as https://host:6443`);
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') {
    throw new Error(`kubeconfig: cluster "${cluster.name}": server must be an http(s) URL such as https://host:6443`);
  }
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace?.trim() || undefined;
  const compute = async (): Promise<KubeRequestAuth> => {
    const options: RequestOptions = {};
    let timer: NodeJS.Timeout | undefined;
    try {
      // client-node waits for an exec plugin forever; a controller must not hang on one.
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: `no answer within ${CREDENTIAL_TIMEOUT_MS} ms` })), CREDENTIAL_TIMEOUT_MS);
        timer.unref();
      });
      await Promise.race([kc.applyToHTTPSOptions(options), deadline]);
    } catch (error) {
      throw credentialError(kc, error);
    } finally {
      clearTimeout(timer);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      // A token file's trailing newline would be an invalid header (client-node does not trim it).
      if (value !== undefined) headers[name.toLowerCase()] = String(value).trim();
    }
    if (options.auth) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    const tls: KubeTls = { ca: options.ca as KubeTls['ca'], cert: options.cert as KubeTls['cert'], key: options.key as KubeTls['key'], servername: options.servername };
    if (options.rejectUnauthorized !== undefined) tls.rejectUnauthorized = options.rejectUnauthorized;
    // applyToHTTPSOptions skips TLS and CA when the context has no user: the cluster's CA still applies.
    if (!kc.getCurrentUser()) {
      if (cluster.caFile) tls.ca = readFileSync(cluster.caFile);
      else if (cluster.caData) tls.ca = Buffer.from(cluster.caData, 'base64');
      if (cluster.skipTLSVerify) tls.rejectUnauthorized = false;
      if (cluster.tlsServerName) tls.servername = cluster.tlsServerName;
    }
    return { headers, tls, proxyAgent: cluster.proxyUrl ? (options.agent as Agent) : undefined };
  };
  // Concurrent requests share one evaluation: client-node runs an uncached exec plugin once per caller.
  // A finished one serves the requests of the next second too: each evaluation re-reads the CA file
  // and builds an https.Agent we do not use, which cost the cold start of 5,000 Secrets that many
  // reads and agents; client-node itself re-reads a token file only once a minute.
  let pending: Promise<KubeRequestAuth> | undefined;
  let recent: { auth: KubeRequestAuth; at: number } | undefined;
  return {
    server,
    namespace,
    requestAuth() {
      const now = Date.now();
      if (recent !== undefined && now - recent.at >= 0 && now - recent.at < AUTH_REUSE_MS) return Promise.resolve(recent.auth);
      pending ??= compute().then(
        (auth) => {
          recent = { auth, at: Date.now() };
          pending = undefined;
          return auth;
        },
        (error: unknown) => {
          pending = undefined;
          throw error;
        },
      );
      return pending;
    },
  };
}

/** The kubeconfig (or in-cluster ServiceAccount) as a connection: what api-client.ts sends through. */
export function loadKubeConnection(options: LoadKubeConnectionOptions): KubeConnection {
  return kubeConnection(loadKubeConfig(options));
}

/**
 * A bearer token kept in a file that is rotated underneath us (the sts's own projected ServiceAccount
 * token for issuer discovery), through KubeConfig's token-file auth: re-read once a minute. `what`
 * names the file in errors.
 */
export function tokenFileAuthorization(path: string, what: string): () => Promise<string | undefined> {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'issuer', server: 'https://issuer.invalid', skipTLSVerify: false }],
    users: [{ name: 'issuer', authProvider: { name: 'tokenFile', config: { tokenFile: path } } }],
    contexts: [{ name: 'issuer', cluster: 'issuer', user: 'issuer' }],
    currentContext: 'issuer',
  });
  const connection = kubeConnection(kc);
  return async () => {
    try {
      return (await connection.requestAuth()).headers['authorization'];
    } catch (error) {
      throw new Error(`${what}: cannot read it`, { cause: error });
    }
  };
}
