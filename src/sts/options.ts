// Flags and environment variables of `kube-regcred sts`, declared once in the shared option table.
import { OptionsError, parseOptions, renderHelp, type OptionTable } from '../config.ts';

export const STS_ENV_PREFIX = 'KUBE_REGCRED_STS_';
const USAGE = 'kube-regcred sts --config <file> [flags]';

export const STS_OPTIONS = {
  config: {
    type: 'string',
    required: true,
    description: 'YAML configuration file (issuers, identities, signing key; see docs/sts.md). Reloaded when it changes.',
  },
  listenAddress: {
    type: 'string',
    default: '0.0.0.0:8080',
    description: 'host:port of /sts/exchange, /token and /.well-known/jwks.json (plain HTTP: terminate TLS in front).',
  },
  opsAddress: {
    type: 'string',
    default: '0.0.0.0:9090',
    description: 'host:port of /metrics, /healthz and /readyz, kept off the public port (port 0: any free port).',
  },
  shutdownGrace: {
    type: 'duration',
    default: '10s',
    description: 'On SIGTERM, how long in-flight requests may take before their connections are closed.',
  },
  logLevel: {
    type: 'string',
    default: 'info',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
    description: 'Log level of the JSON logs (refusals are logged at info, issued tokens at debug).',
  },
} as const satisfies OptionTable;

export interface Address {
  host: string;
  port: number;
}

export interface StsSettings {
  configPath: string;
  listen: Address;
  ops: Address;
  shutdownGraceMs: number;
  logLevel: string;
}

export function stsHelp(): string {
  return renderHelp(USAGE, STS_OPTIONS, STS_ENV_PREFIX);
}

export function parseAddress(flag: string, raw: string): Address {
  const match = /^(.*):(\d{1,5})$/.exec(raw.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new OptionsError(`${flag}: expected host:port, got "${raw}"`);
  const host = match[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export function parseStsSettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): StsSettings {
  const o = parseOptions(STS_OPTIONS, { argv, env, envPrefix: STS_ENV_PREFIX });
  return {
    configPath: o.config,
    listen: parseAddress('--listen-address', o.listenAddress),
    ops: parseAddress('--ops-address', o.opsAddress),
    shutdownGraceMs: o.shutdownGrace,
    logLevel: o.logLevel,
  };
}
