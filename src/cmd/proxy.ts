// `kube-regcred proxy`: parses options, builds every dependency (logger, metrics registry, clock,
// trusted keys, upstream agent), starts the registry proxy and the ops server, and shuts down
// gracefully on SIGTERM/SIGINT.
import { readFile } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import type { DestinationStream } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import { RegcredError, toRegcredError } from '../errors.ts';
import { createOpsServer } from '../http/ops-server.ts';
import type { Logger } from '../log.ts';
import { createProcessBasics } from './process-basics.ts';
import { createProxyMetrics, type ProxyMetrics } from '../proxy/metrics.ts';
import { parseProxySettings, proxyHelp, type ProxySettings } from '../proxy/options.ts';
import { createProxyServer } from '../proxy/server.ts';
import { createRegistryTokenVerifier } from '../proxy/token-verifier.ts';
import { keysFromJwks, keysFromPem, remoteKeySource, staticKeySource, type TrustedKeySource } from '../proxy/trusted-keys.ts';
import { createUpstream } from '../proxy/upstream.ts';
import { parseCommandLine, serveUntilStopped } from './command-line.ts';

export interface ProxyProcessIo {
  logDestination?: DestinationStream;
  clock?: Clock;
}

export interface RunningProxy {
  readonly port: number;
  readonly opsPort: number;
  readonly registry: Registry;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  stop(): Promise<void>;
}

async function readSmallFile(path: string, flag: string): Promise<string> {
  try {
    const buffer = await readFile(path);
    if (buffer.length > 1_048_576) throw new Error('larger than 1 MiB');
    return buffer.toString('utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new RegcredError('ConfigInvalid', `${flag}: cannot read ${path} (${reason})`);
  }
}

async function trustedKeys(settings: ProxySettings): Promise<TrustedKeySource> {
  if (settings.tokenJwksUrl) return remoteKeySource(settings.tokenJwksUrl);
  const text = await readSmallFile(settings.tokenKeysFile!, '--token-keys-file');
  if (text.trimStart().startsWith('{')) {
    let jwks: unknown;
    try {
      jwks = JSON.parse(text);
    } catch {
      throw new RegcredError('ConfigInvalid', '--token-keys-file: neither PEM nor JSON');
    }
    return staticKeySource(await keysFromJwks(jwks, '--token-keys-file'));
  }
  return staticKeySource(await keysFromPem(text, '--token-keys-file'));
}

async function upstreamAuthorization(settings: ProxySettings): Promise<string | undefined> {
  if (!settings.upstreamCredentialsFile) return undefined;
  const text = (await readSmallFile(settings.upstreamCredentialsFile, '--upstream-credentials-file')).replace(/\r?\n$/, '');
  // The message never quotes the file: it is a password.
  if (text.indexOf(':') <= 0 || /[\r\n]/.test(text)) throw new RegcredError('ConfigInvalid', '--upstream-credentials-file: expected one line "username:password"');
  return `Basic ${Buffer.from(text).toString('base64')}`;
}

/** Builds and starts everything; the caller owns signals and the exit code. */
export async function startProxyProcess(settings: ProxySettings, io: ProxyProcessIo = {}): Promise<RunningProxy> {
  const clock = io.clock ?? systemClock;
  const { logger, registry } = createProcessBasics('proxy', settings.logLevel, io.logDestination);
  const metrics = createProxyMetrics(registry);
  const keys = await trustedKeys(settings);
  const authorization = await upstreamAuthorization(settings);
  const caPem = settings.upstreamCaFile ? await readSmallFile(settings.upstreamCaFile, '--upstream-ca-file') : undefined;
  const upstream = createUpstream({
    url: settings.upstream,
    ...(authorization ? { authorization } : {}),
    ...(caPem ? { caPem } : {}),
    idleTimeoutMs: settings.upstreamIdleTimeoutMs,
    maxSockets: settings.upstreamMaxSockets,
  });
  const verify = createRegistryTokenVerifier({ issuer: settings.tokenIssuer, service: settings.service, keys });
  const server = createProxyServer({
    challenge: { realm: settings.realm, service: settings.service },
    verify,
    upstream,
    ...(settings.externalUrl ? { externalUrl: settings.externalUrl } : {}),
    clock,
    logger,
    metrics,
  });

  let stopping = false;
  let keysLoaded = false;
  const ops = createOpsServer({
    registry,
    logger,
    // Ready once the trusted keys could be read (a token could be verified) and until shutdown starts.
    // The upstream's health is not part of it: every replica would go unready together, and clients
    // would see refused connections instead of a 502 that names the cause.
    isReady: () => {
      if (stopping) return { ready: false, reason: 'shutting down' };
      if (!keysLoaded) {
        keys.current().then(() => (keysLoaded = true), () => undefined);
        return { ready: false, reason: 'token service keys not loaded yet' };
      }
      return { ready: true };
    },
  });
  await keys.current().then(
    () => (keysLoaded = true),
    (err: unknown) => logger.warn({ code: toRegcredError(err).code }, 'token service keys not loaded yet'),
  );
  let port: number;
  let opsPort: number;
  try {
    port = await server.listen(settings.listen.port, settings.listen.host);
    opsPort = await ops.listen(settings.ops.port, settings.ops.host);
  } catch (err) {
    await server.close(0);
    throw err;
  }
  logger.info({ port, opsPort, upstream: settings.upstream.origin }, 'registry proxy listening');

  return {
    port,
    opsPort,
    registry,
    metrics,
    logger,
    async stop() {
      stopping = true;
      await server.close(settings.shutdownGraceMs);
      await ops.close();
      logger.info('registry proxy stopped');
    },
  };
}

/** The `kube-regcred proxy` entry point; resolves with the exit code. */
export async function runProxy(argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const commandLine = parseCommandLine('proxy', argv, proxyHelp, () => parseProxySettings(argv, env));
  if ('exitCode' in commandLine) return commandLine.exitCode;
  return serveUntilStopped('proxy', () => startProxyProcess(commandLine.settings));
}
