// The option table of `kube-regcred controller` (flags, KUBE_REGCRED_* environment variables, defaults)
// and its validation into the settings the controller runs with. Pure: argv and env come from cmd/.
import { OptionsError, parseOptions, renderHelp, type OptionTable, type Options } from '../config.ts';
import type { PassthroughRegistry } from '../passthrough-target.ts';
import { parsePassthroughRegistries, registryHost } from './passthrough-options.ts';
import { DEFAULT_REFRESH_SCHEDULE, validateRefreshSchedule, type RefreshSchedule } from '../token/refresh-time.ts';

export const ENV_PREFIX = 'KUBE_REGCRED_';
export const USAGE = 'kube-regcred controller [options]';

export const CONTROLLER_OPTIONS = {
  kubeconfig: {
    type: 'string',
    description: 'Path of a kubeconfig file. Unset: the in-cluster configuration of the Pod.',
  },
  namespaces: {
    type: 'list',
    default: '',
    description: 'Comma-separated namespaces to watch for pull secrets. Empty: all namespaces.',
  },
  issuerUrl: {
    type: 'string',
    default: 'https://issuer.enforce.dev',
    description: 'Base URL of the STS that exchanges the ServiceAccount token (POST {url}/sts/exchange).',
  },
  audience: {
    type: 'string',
    default: 'issuer.enforce.dev',
    description: 'Audience of the ServiceAccount token presented to the STS.',
  },
  pullCapabilities: {
    type: 'list',
    default: '',
    description: 'Chainguard capabilities (repeated cap) asked for when exchanging for a pull secret, e.g. registry.pull. Empty: none (the identity\'s role bindings decide).',
  },
  pushCapabilities: {
    type: 'list',
    default: '',
    description: 'Chainguard capabilities asked for when exchanging for a push secret, e.g. registry.push. Empty: none.',
  },
  scopes: {
    type: 'list',
    default: '',
    description: 'Chainguard group scopes (repeated scopes) the exchanged token is restricted to. Empty: none.',
  },
  defaultRegistry: {
    type: 'string',
    default: 'cgr.dev',
    description: 'Registry (host[:port]) for Secrets without the kube-regcred.io/registry annotation.',
  },
  registries: {
    type: 'list',
    default: '',
    description: 'Comma-separated registries a Secret may choose with kube-regcred.io/registry. The default registry is always allowed.',
  },
  passthroughRegistries: {
    type: 'list',
    default: '',
    description: 'Comma-separated host[:port]=audience: registries that verify OIDC tokens themselves. Their Secrets get a ServiceAccount token for that audience as the password, no exchange (also any Secret annotated kube-regcred.io/exchange=passthrough, audience = its registry). Needs passthrough entries in the identity policy.',
  },
  passthroughUsernames: {
    type: 'list',
    default: '',
    description: 'Comma-separated host[:port]=username for pass-through registries (kube-regcred sts: the issuer name in its config). Default username: kube-regcred.',
  },
  bindWorkloadTokens: {
    type: 'boolean',
    default: 'true',
    description: 'Bind per-workload and pass-through workload tokens to the Secret they serve (TokenRequest boundObjectRef): deleting the Secret revokes them for TokenReview-checking verifiers.',
  },
  identityPolicy: {
    type: 'string',
    description: 'Path of the identity policy file (YAML): which namespaces may use which identity, for pull or push. Reloaded when it changes (ConfigMap mounts included). Unset: every namespace may use every identity to pull, nobody may push.',
  },
  workloadIdentity: {
    type: 'boolean',
    default: 'false',
    description: 'Per-workload identity: Secrets annotated kube-regcred.io/service-account are refreshed with a token of that ServiceAccount (in the Secret namespace). Needs the workload-identity RBAC component.',
  },
  tokenExpirationSeconds: {
    type: 'integer',
    default: '3600',
    description: 'Lifetime requested for the controller ServiceAccount token (TokenRequest; at least 600). Reused until 80% of it is gone.',
  },
  refreshFraction: {
    type: 'fraction',
    default: '0.3333',
    description: 'Refresh a registry token when this fraction of its lifetime remains.',
  },
  refreshMinMargin: {
    type: 'duration',
    default: '5m',
    description: 'Refresh at least this long before a registry token expires (capped at half its lifetime).',
  },
  refreshJitter: {
    type: 'fraction',
    default: '0.1',
    description: 'Move each refresh earlier by up to this fraction of its lead time, to spread refreshes.',
  },
  exchangeTimeout: {
    type: 'duration',
    // A healthy STS answers in well under a second; 5 s leaves dozens of attempts inside the 5 min margin.
    default: '5s',
    description: 'Time limit for one token exchange with the STS. Keep it far below --refresh-min-margin: every timed-out attempt uses up margin.',
  },
  concurrency: {
    type: 'integer',
    default: '4',
    description: 'Secrets reconciled at the same time.',
  },
  backoffBase: {
    type: 'duration',
    default: '1s',
    description: 'First retry delay after a transient failure (exponential with jitter from there).',
  },
  backoffMax: {
    type: 'duration',
    default: '5m',
    description: 'Longest retry delay after transient failures.',
  },
  forbiddenRetry: {
    type: 'duration',
    default: '1h',
    description: 'Retry a Secret the controller may not write (outside its RBAC grant) after this long, or when it changes.',
  },
  attachRetry: {
    type: 'duration',
    default: '30s',
    description: 'Retry adding a pull secret to a ServiceAccount (kube-regcred.io/attach-to) after this long when it failed (e.g. the ServiceAccount does not exist yet).',
  },
  explainPullBackoff: {
    type: 'boolean',
    default: 'false',
    description: 'Watch Pods stuck pulling images and send a Warning Event to those admitted before their ServiceAccount listed a pull secret kube-regcred attaches (kube-regcred.io/attach-to). Needs list/watch on pods.',
  },
  serviceAccountName: {
    type: 'string',
    default: 'kube-regcred',
    description: "The controller's own ServiceAccount, whose token (TokenRequest) is exchanged.",
  },
  serviceAccountNamespace: {
    type: 'string',
    description: 'Namespace of that ServiceAccount and of the leader-election Lease. Unset: $POD_NAMESPACE, then the in-cluster namespace file, or with --kubeconfig the context namespace.',
  },
  leaderElect: {
    type: 'boolean',
    default: 'true',
    description: 'Lease-based leader election, so that with several replicas only one writes.',
  },
  leaseName: {
    type: 'string',
    default: 'kube-regcred-controller',
    description: 'Name of the coordination.k8s.io Lease used for leader election.',
  },
  leaseDuration: {
    type: 'duration',
    default: '15s',
    description: 'How long followers wait after the last renewal before taking the Lease over.',
  },
  renewDeadline: {
    type: 'duration',
    default: '10s',
    description: 'The leader stops writing when it could not renew the Lease for this long (less than --lease-duration).',
  },
  retryPeriod: {
    type: 'duration',
    default: '2s',
    description: 'Interval between Lease acquisition or renewal attempts.',
  },
  opsAddress: {
    type: 'string',
    default: '0.0.0.0:8080',
    description: 'host:port of the /metrics, /healthz and /readyz server (port 0: any free port).',
  },
  logLevel: {
    type: 'string',
    default: 'info',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
    description: 'Log level of the JSON logs.',
  },
} as const satisfies OptionTable;

export type ControllerOptions = Options<typeof CONTROLLER_OPTIONS>;

/** Validated settings, durations in milliseconds. */
export interface ControllerSettings {
  kubeconfig: string | undefined;
  namespaces: string[];
  issuerUrl: string;
  audience: string;
  capabilities: { pull: string[]; push: string[] };
  scopes: string[];
  defaultRegistry: string;
  registries: string[];
  passthroughRegistries: Record<string, PassthroughRegistry>;
  bindWorkloadTokens: boolean;
  identityPolicyPath: string | undefined;
  workloadIdentity: boolean;
  tokenExpirationSeconds: number;
  refresh: RefreshSchedule;
  exchangeTimeoutMs: number;
  concurrency: number;
  backoff: { baseMs: number; maxMs: number };
  forbiddenRetryMs: number;
  attachRetryMs: number;
  explainPullBackoff: boolean;
  serviceAccountName: string;
  serviceAccountNamespace: string | undefined;
  leaderElection:
    | { enabled: false }
    | { enabled: true; leaseName: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  ops: { host: string; port: number };
  logLevel: string;
}

export function controllerHelp(): string {
  return renderHelp(USAGE, CONTROLLER_OPTIONS, ENV_PREFIX);
}

function parseAddress(raw: string): { host: string; port: number } {
  const match = /^(.*):(\d{1,5})$/.exec(raw.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new OptionsError(`--ops-address: expected host:port, got "${raw}"`);
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** Parses argv + env and checks what the table alone cannot. Throws OptionsError with a clear message. */
export function parseControllerSettings(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ControllerSettings {
  const o = parseOptions(CONTROLLER_OPTIONS, { argv, env, envPrefix: ENV_PREFIX });
  let issuer: URL;
  try {
    issuer = new URL(o.issuerUrl);
  } catch {
    throw new OptionsError(`--issuer-url: not a URL: "${o.issuerUrl}"`);
  }
  if (issuer.protocol !== 'https:' && issuer.protocol !== 'http:') throw new OptionsError('--issuer-url: must be http(s)');
  if (o.tokenExpirationSeconds < 600) throw new OptionsError('--token-expiration-seconds: TokenRequest refuses less than 600');
  if (o.concurrency < 1) throw new OptionsError('--concurrency: must be at least 1');
  if (o.audience.trim() === '') throw new OptionsError('--audience: must not be empty');
  if (o.backoffBase <= 0 || o.backoffMax < o.backoffBase) throw new OptionsError('--backoff-base must be > 0 and <= --backoff-max');
  const refresh: RefreshSchedule = {
    ...DEFAULT_REFRESH_SCHEDULE,
    remainingFraction: o.refreshFraction,
    minMarginMs: o.refreshMinMargin,
    jitterFraction: o.refreshJitter,
  };
  try {
    validateRefreshSchedule(refresh);
  } catch (err) {
    throw new OptionsError(`refresh options: ${(err as Error).message}`);
  }
  if (o.leaderElect && !(o.renewDeadline < o.leaseDuration && o.retryPeriod < o.renewDeadline)) {
    throw new OptionsError('leader election needs --retry-period < --renew-deadline < --lease-duration');
  }
  const defaultRegistry = registryHost('--default-registry', o.defaultRegistry);
  const registries = [...new Set([defaultRegistry, ...o.registries.map((r) => registryHost('--registries', r))])];
  const passthroughRegistries = parsePassthroughRegistries(o.passthroughRegistries, o.passthroughUsernames);
  return {
    kubeconfig: o.kubeconfig,
    namespaces: o.namespaces,
    issuerUrl: o.issuerUrl,
    audience: o.audience,
    capabilities: { pull: o.pullCapabilities, push: o.pushCapabilities },
    scopes: o.scopes,
    defaultRegistry,
    registries,
    passthroughRegistries,
    bindWorkloadTokens: o.bindWorkloadTokens,
    identityPolicyPath: o.identityPolicy === undefined || o.identityPolicy.trim() === '' ? undefined : o.identityPolicy,
    workloadIdentity: o.workloadIdentity,
    tokenExpirationSeconds: o.tokenExpirationSeconds,
    refresh,
    exchangeTimeoutMs: o.exchangeTimeout,
    concurrency: o.concurrency,
    backoff: { baseMs: o.backoffBase, maxMs: o.backoffMax },
    forbiddenRetryMs: o.forbiddenRetry,
    attachRetryMs: o.attachRetry,
    explainPullBackoff: o.explainPullBackoff,
    serviceAccountName: o.serviceAccountName,
    serviceAccountNamespace: o.serviceAccountNamespace,
    leaderElection: o.leaderElect
      ? { enabled: true, leaseName: o.leaseName, leaseDurationMs: o.leaseDuration, renewDeadlineMs: o.renewDeadline, retryPeriodMs: o.retryPeriod }
      : { enabled: false },
    ops: parseAddress(o.opsAddress),
    logLevel: o.logLevel,
  };
}
