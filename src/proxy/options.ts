// Flags and environment variables of `kube-regcred proxy`, declared once in the shared option table.
import { OptionsError, parseOptions, renderHelp, type OptionTable } from '../config.ts';
import { parseAddress, type Address } from '../sts/options.ts';

export const PROXY_ENV_PREFIX = 'KUBE_REGCRED_PROXY_';
const USAGE = 'kube-regcred proxy --upstream <url> --realm <sts /token URL> --service <name> --token-issuer <iss> (--token-jwks-url <url> | --token-keys-file <file>) [flags]';

export const PROXY_OPTIONS = {
  upstream: {
    type: 'string',
    required: true,
    description: 'URL of the registry behind the proxy (http or https), reachable only by the proxy, e.g. http://registry.internal:5000.',
  },
  upstreamCredentialsFile: {
    type: 'string',
    description: 'File holding "username:password" the proxy sends upstream as Basic auth (a credential only the proxy knows). Default: none.',
  },
  upstreamCaFile: {
    type: 'string',
    description: 'PEM bundle to trust for an https upstream (default: the system roots).',
  },
  realm: {
    type: 'string',
    required: true,
    description: 'The token service\'s /token URL, as clients reach it: the realm of every challenge.',
  },
  service: {
    type: 'string',
    required: true,
    description: 'This registry\'s service name: the sts `service`, the `aud` every token must carry.',
  },
  tokenIssuer: {
    type: 'string',
    required: true,
    description: 'The `iss` every token must carry: the sts `tokenIssuer`.',
  },
  tokenJwksUrl: {
    type: 'string',
    description: 'The sts\'s /.well-known/jwks.json (http or https): trusted signing keys, cached, refetched for an unknown key.',
  },
  tokenKeysFile: {
    type: 'string',
    description: 'Trusted signing keys from a file instead: PEM certificates and/or public keys (the sts signing certificate), or a JWKS.',
  },
  externalUrl: {
    type: 'string',
    description: 'The proxy\'s URL as clients reach it; upload Locations are rewritten to it. Default: http://<Host header>.',
  },
  listenAddress: {
    type: 'string',
    default: '0.0.0.0:5000',
    description: 'host:port of the registry API (plain HTTP: terminate TLS in front).',
  },
  opsAddress: {
    type: 'string',
    default: '0.0.0.0:9090',
    description: 'host:port of /metrics, /healthz and /readyz, kept off the public port (port 0: any free port).',
  },
  upstreamIdleTimeout: {
    type: 'duration',
    default: '2m',
    description: 'An upstream exchange silent this long is abandoned (there is no limit on a whole transfer).',
  },
  upstreamMaxSockets: {
    type: 'integer',
    default: '64',
    description: 'Keep-alive connections to the upstream at most.',
  },
  shutdownGrace: {
    type: 'duration',
    default: '30s',
    description: 'On SIGTERM, how long transfers in flight may take before their connections are closed.',
  },
  logLevel: {
    type: 'string',
    default: 'info',
    choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
    description: 'Log level of the JSON logs (refusals at info, forwarded requests at debug).',
  },
} as const satisfies OptionTable;

export interface ProxySettings {
  upstream: URL;
  upstreamCredentialsFile?: string;
  upstreamCaFile?: string;
  realm: string;
  service: string;
  tokenIssuer: string;
  tokenJwksUrl?: URL;
  tokenKeysFile?: string;
  externalUrl?: URL;
  listen: Address;
  ops: Address;
  upstreamIdleTimeoutMs: number;
  upstreamMaxSockets: number;
  shutdownGraceMs: number;
  logLevel: string;
}

export function proxyHelp(): string {
  return renderHelp(USAGE, PROXY_OPTIONS, PROXY_ENV_PREFIX);
}

function httpUrl(flag: string, raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OptionsError(`${flag}: not a URL: "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OptionsError(`${flag}: must be an http(s) URL`);
  return url;
}

function quoteFree(flag: string, raw: string): string {
  // These go into WWW-Authenticate between quotes.
  if (raw === '' || /["\\\s]/.test(raw)) throw new OptionsError(`${flag}: must be non-empty, without quotes, backslashes or spaces`);
  return raw;
}

export function parseProxySettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ProxySettings {
  const o = parseOptions(PROXY_OPTIONS, { argv, env, envPrefix: PROXY_ENV_PREFIX });
  const upstream = httpUrl('--upstream', o.upstream);
  if (upstream.pathname !== '/' || upstream.search !== '') throw new OptionsError('--upstream: give the origin only (no path): the proxy serves /v2/');
  if ((o.tokenJwksUrl === undefined) === (o.tokenKeysFile === undefined)) {
    throw new OptionsError('set exactly one of --token-jwks-url, --token-keys-file (where the trusted signing keys come from)');
  }
  if (o.upstreamMaxSockets < 1) throw new OptionsError('--upstream-max-sockets: must be at least 1');
  const realm = quoteFree('--realm', o.realm);
  httpUrl('--realm', realm);
  return {
    upstream,
    ...(o.upstreamCredentialsFile !== undefined ? { upstreamCredentialsFile: o.upstreamCredentialsFile } : {}),
    ...(o.upstreamCaFile !== undefined ? { upstreamCaFile: o.upstreamCaFile } : {}),
    realm,
    service: quoteFree('--service', o.service),
    tokenIssuer: o.tokenIssuer,
    ...(o.tokenJwksUrl !== undefined ? { tokenJwksUrl: httpUrl('--token-jwks-url', o.tokenJwksUrl) } : {}),
    ...(o.tokenKeysFile !== undefined ? { tokenKeysFile: o.tokenKeysFile } : {}),
    ...(o.externalUrl !== undefined ? { externalUrl: httpUrl('--external-url', o.externalUrl) } : {}),
    listen: parseAddress('--listen-address', o.listenAddress),
    ops: parseAddress('--ops-address', o.opsAddress),
    upstreamIdleTimeoutMs: o.upstreamIdleTimeout,
    upstreamMaxSockets: o.upstreamMaxSockets,
    shutdownGraceMs: o.shutdownGrace,
    logLevel: o.logLevel,
  };
}
