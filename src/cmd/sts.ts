// `kube-regcred sts`: parses options, builds every dependency (logger, metrics registry, clock, issuer
// key store), loads the configuration, starts the token server and the ops server, follows the
// configuration file, and shuts down gracefully on SIGTERM/SIGINT.
import type { Registry } from 'prom-client';
import type { DestinationStream } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import { parseCommandLine, serveUntilStopped } from './command-line.ts';
import { createOpsServer, type OpsServer } from '../http/ops-server.ts';
import type { Logger } from '../log.ts';
import { createProcessBasics } from './process-basics.ts';
import type { TokenReviewer } from '../sts/token-review.ts';
import type { KubeApi } from '../kube/api-client.ts';
import { readTlsPair, watchTlsFiles } from '../sts/tls-files.ts';
import { watchConfig, type ConfigWatcher } from '../sts/config-watcher.ts';
import { IssuerKeyStore, type IssuerKeysOptions } from '../sts/issuer-keys.ts';
import { createStsMetrics, type StsMetrics } from '../sts/metrics.ts';
import { parseStsSettings, stsHelp, type StsSettings } from '../sts/options.ts';
import { loadConfigSnapshot, type StsConfigSnapshot } from '../sts/config-snapshot.ts';
import { createStsServer, type StsServer } from '../sts/server.ts';

export interface StsProcessIo {
  /** Where JSON logs go; stdout by default. */
  logDestination?: DestinationStream;
  clock?: Clock;
  /** JWKS cache tuning (tests shorten the cooldown). */
  issuerKeys?: IssuerKeysOptions;
  /** For the in-cluster apiserver address (KUBERNETES_SERVICE_HOST/PORT). Default: none. */
  env?: Readonly<Record<string, string | undefined>>;
  /** How often the TLS files are re-read (default 10 s; tests shorten it). */
  tlsPollMs?: number;
  /** Config watcher tuning (tests shorten the debounce). */
  watch?: { debounceMs?: number; pollIntervalMs?: number };
}

export interface RunningSts {
  readonly port: number;
  readonly opsPort: number;
  readonly registry: Registry;
  readonly metrics: StsMetrics;
  readonly logger: Logger;
  /** The configuration snapshot in force now (swapped whole on reload). */
  runtime(): StsConfigSnapshot;
  /** Reloads the configuration now (the watcher also does on file changes). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

/** Builds and starts everything; the caller owns signals and the exit code. Throws if the first load fails. */
export async function startStsProcess(settings: StsSettings, io: StsProcessIo = {}): Promise<RunningSts> {
  const clock = io.clock ?? systemClock;
  const { logger, registry } = createProcessBasics('sts', settings.logLevel, io.logDestination);
  const metrics = createStsMetrics(registry);
  const keyStore = new IssuerKeyStore({
    ...io.issuerKeys,
    onFetch: (issuer, result, reason) => {
      metrics.issuerKeyFetches.inc({ issuer, result });
      // A failure while older keys still verify is a warning: tokens keep being accepted for now.
      if (result === 'failure') logger.warn({ issuer, reason }, 'issuer keys fetch failed');
      else logger.debug({ issuer }, 'issuer keys fetched');
    },
  });
  // Connected on first use only: without a `tokenReview: true` issuer the sts never talks to an apiserver.
  // client-node is loaded only then (tens of MiB of the sts's 64 MiB goal).
  let reviewer: Promise<TokenReviewer> | undefined;
  let api: KubeApi | undefined;
  const tokenReviewer = (): Promise<TokenReviewer> =>
    (reviewer ??= (async () => {
      const [{ createKubeApi }, { loadKubeConnection }, { createTokenReviewer }] = await Promise.all([
        import('../kube/api-client.ts'),
        import('../kube/kube-config.ts'),
        import('../sts/token-review.ts'),
      ]);
      api = createKubeApi({ connection: loadKubeConnection({ kubeconfigPath: settings.kubeconfig, env: io.env ?? {} }), maxSockets: 8, timeoutMs: 5_000, userAgent: 'kube-regcred-sts' });
      return createTokenReviewer({ api });
    })().catch((err: unknown) => {
      // A kubeconfig fixed later is tried again on the next reload.
      reviewer = undefined;
      throw err;
    }));
  const load = () => loadConfigSnapshot(settings.configPath, { keyStore, tokenReviewer });

  // The first load must succeed: there is no previous configuration to fall back to.
  let snapshot = await load();
  keyStore.retain(snapshot.keySources);
  logger.info({ identities: snapshot.identities.length, issuers: snapshot.issuersByName.size, headerStyle: snapshot.tokens.headerStyle }, 'configuration loaded');

  const watcher: ConfigWatcher = watchConfig(snapshot, {
    load,
    onSwap: (next) => {
      snapshot = next;
      keyStore.retain(next.keySources);
    },
    onReloadResult: (result) => metrics.configReloads.inc({ result }),
    logger,
    ...(io.watch ?? {}),
  });

  // HTTPS when asked: the pair is checked now (a bad pair fails startup) and re-read every 10 s.
  const tlsPair = settings.tls ? await readTlsPair(settings.tls) : undefined;
  const server: StsServer = createStsServer({ getSnapshot: () => snapshot, clock, logger, metrics, ...(tlsPair ? { tls: tlsPair } : {}) });
  const stopTlsWatch =
    settings.tls && tlsPair
      ? watchTlsFiles({
          files: settings.tls,
          current: tlsPair,
          pollMs: io.tlsPollMs ?? 10_000,
          onChange: (pair) => {
            server.setTls(pair);
            logger.info('TLS certificate reloaded');
          },
          onError: (error) => logger.warn({ reason: error.message }, 'TLS certificate reload failed; the previous one keeps serving'),
        })
      : () => undefined;
  let stopping = false;
  const ops: OpsServer = createOpsServer({
    registry,
    logger,
    // Ready once a configuration is loaded (always, past this point) and until shutdown starts,
    // so the load balancer stops sending before the listener closes.
    isReady: () => (stopping ? { ready: false, reason: 'shutting down' } : { ready: true }),
  });
  let port: number;
  let opsPort: number;
  try {
    port = await server.listen(settings.listen.port, settings.listen.host);
    opsPort = await ops.listen(settings.ops.port, settings.ops.host);
  } catch (err) {
    watcher.close();
    stopTlsWatch();
    await server.close(0);
    throw err;
  }
  logger.info({ port, opsPort, tls: tlsPair !== undefined }, 'token service listening');

  return {
    port,
    opsPort,
    registry,
    metrics,
    logger,
    runtime: () => snapshot,
    reload: () => watcher.reload(),
    async stop() {
      stopping = true;
      watcher.close();
      stopTlsWatch();
      await server.close(settings.shutdownGraceMs);
      await ops.close();
      api?.close();
      logger.info('token service stopped');
    },
  };
}

/** The `kube-regcred sts` entry point; resolves with the exit code. */
export async function runSts(argv: string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const commandLine = parseCommandLine('sts', argv, stsHelp, () => parseStsSettings(argv, env));
  if ('exitCode' in commandLine) return commandLine.exitCode;
  return serveUntilStopped('sts', () => startStsProcess(commandLine.settings, { env }));
}
