// A real Distribution registry (Debian's docker-registry 2.8) on loopback, with token authentication
// or, to sit behind `kube-regcred proxy`, with none at all.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from './ports.ts';
import { startComponent } from './process.ts';

export interface TokenAuthRegistryOptions {
  /** Token endpoint the registry sends clients to (the Bearer challenge's realm). */
  realm: string;
  /** `service` in the challenge; the `aud` a token must carry. */
  service: string;
  /** `iss` a token must carry. */
  issuer: string;
  /** PEM bundle of certificates whose keys may sign tokens (x5c chains end here, jwk/kid keys are here). */
  rootCertBundlePath: string;
}

/** No authentication: anyone who reaches the port may push and pull (so only the proxy may reach it). */
export interface NoAuthRegistryOptions {
  auth: 'none';
}

/** Basic auth from an htpasswd file (bcrypt entries, the only kind Distribution reads): a static credential. */
export interface HtpasswdRegistryOptions {
  auth: 'htpasswd';
  /** The file's content, `user:$2b$...` lines. */
  htpasswd: string;
}

/** `port`: a port chosen beforehand, when something configured before the registry starts names its host. */
export type RegistryOptions = (TokenAuthRegistryOptions | NoAuthRegistryOptions | HtpasswdRegistryOptions) & { port?: number };

export interface RegistryProcess {
  /** `127.0.0.1:PORT`, the registry host in image references and in auths. */
  host: string;
  url: string;
  logFile: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startRegistry(options: RegistryOptions): Promise<RegistryProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-regcred-registry-'));
  const port = options.port ?? (await freePort());
  const host = `127.0.0.1:${port}`;
  const configFile = join(dir, 'config.yml');
  // JSON is YAML: no YAML library needed to write the registry's configuration.
  writeFileSync(
    configFile,
    JSON.stringify({
      version: 0.1,
      log: { level: 'info', formatter: 'text', fields: { service: 'registry' } },
      storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
      http: { addr: host, secret: randomBytes(16).toString('hex') },
      ...('auth' in options
        ? options.auth === 'htpasswd'
          ? { auth: { htpasswd: { realm: 'kube-regcred-test', path: join(dir, 'htpasswd') } } }
          : {}
        : {
            auth: {
              token: {
                realm: options.realm,
                service: options.service,
                issuer: options.issuer,
                rootcertbundle: options.rootCertBundlePath,
              },
            },
          }),
    }),
  );
  if ('auth' in options && options.auth === 'htpasswd') writeFileSync(join(dir, 'htpasswd'), options.htpasswd);
  const logFile = join(dir, 'registry.log');
  const component = await startComponent({
    name: 'registry',
    command: 'docker-registry',
    args: ['serve', configFile],
    logFile,
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' },
    ready: async () => (await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) })).status === ('auth' in options && options.auth === 'none' ? 200 : 401),
    startTimeoutMs: 20_000,
  });
  return {
    host,
    url: `http://${host}`,
    logFile,
    dir,
    async stop() {
      await component.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
