// The option table of `kube-regcred credential-provider` (flags, KUBE_REGCRED_* environment variables:
// the kubelet's provider config passes both as `args` and `env`) and its validation. Pure.
import { OptionsError, parseOptions, renderHelp, type Options } from '../config.ts';
import { DEFAULT_REFRESH_SCHEDULE, type RefreshSchedule } from '../token/refresh-time.ts';
import { CACHE_KEY_TYPES, type CacheKeyType } from './api.ts';
import { PROVIDER_MODES, type ProviderMode } from './answer.ts';

export const ENV_PREFIX = 'KUBE_REGCRED_';
export const USAGE = 'kube-regcred credential-provider [options]   (run by the kubelet: request on stdin, response on stdout)';

export const CREDENTIAL_PROVIDER_OPTIONS = {
  issuerUrl: {
    type: 'string',
    default: 'https://issuer.enforce.dev',
    description: 'Base URL of the STS that exchanges the Pod ServiceAccount token (POST {url}/sts/exchange).',
  },
  audience: {
    type: 'string',
    default: 'issuer.enforce.dev',
    description: 'Audience the STS accepts; the kubelet provider config must set tokenAttributes.serviceAccountTokenAudience to the same value.',
  },
  identityTemplate: {
    type: 'string',
    description: 'Identity for ServiceAccounts without a kube-regcred.io/identity annotation for the registry; {namespace} and {serviceAccount} are filled from the Pod token subject (e.g. "ns/{namespace}"). Unset: the annotation is required.',
  },
  mode: {
    type: 'string',
    default: 'exchange',
    choices: PROVIDER_MODES,
    description: 'How credentials are made: exchange = the Pod token is traded at the STS for a registry token; passthrough = the Pod token itself is the password, for registries that verify OIDC tokens (the provider config then needs tokenAttributes.cacheType Token).',
  },
  passthroughUsername: {
    type: 'string',
    default: 'kube-regcred',
    description: 'With --mode passthrough: the username beside the token (kube-regcred sts /token: the name of the issuer entry that trusts the cluster).',
  },
  cacheKeyType: {
    type: 'string',
    default: 'Registry',
    choices: CACHE_KEY_TYPES,
    description: 'What the kubelet keys its cache of the answer by (per ServiceAccount with tokenAttributes.cacheType ServiceAccount).',
  },
  exchangeTimeout: {
    type: 'duration',
    default: '10s',
    description: 'Time limit for the token exchange (the kubelet kills the plugin after 1 minute).',
  },
  logLevel: {
    type: 'string',
    default: 'info',
    choices: ['debug', 'info', 'warn', 'error', 'silent'],
    description: 'Level of the JSON logs on stderr (the kubelet shows stderr only when the plugin fails).',
  },
} as const;

export type CredentialProviderOptions = Options<typeof CREDENTIAL_PROVIDER_OPTIONS>;

export interface CredentialProviderSettings {
  issuerUrl: string;
  audience: string;
  identityTemplate: string | undefined;
  mode: ProviderMode;
  passthroughUsername: string;
  cacheKeyType: CacheKeyType;
  exchangeTimeoutMs: number;
  logLevel: string;
  /** The controller's default policy: one margin rule for both delivery modes. */
  refresh: RefreshSchedule;
}

export function parseCredentialProviderSettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CredentialProviderSettings {
  const o = parseOptions(CREDENTIAL_PROVIDER_OPTIONS, { argv, env, envPrefix: ENV_PREFIX });
  if (!URL.canParse(o.issuerUrl) || !['http:', 'https:'].includes(new URL(o.issuerUrl).protocol)) {
    throw new OptionsError(`--issuer-url (KUBE_REGCRED_ISSUER_URL): not an http(s) URL: "${o.issuerUrl}"`);
  }
  if (o.identityTemplate !== undefined && o.identityTemplate.trim() === '') {
    throw new OptionsError('--identity-template (KUBE_REGCRED_IDENTITY_TEMPLATE): empty; leave it unset to require the annotation');
  }
  return {
    issuerUrl: o.issuerUrl,
    audience: o.audience,
    identityTemplate: o.identityTemplate,
    mode: o.mode as ProviderMode,
    passthroughUsername: o.passthroughUsername,
    cacheKeyType: o.cacheKeyType as CacheKeyType,
    exchangeTimeoutMs: o.exchangeTimeout,
    logLevel: o.logLevel,
    refresh: DEFAULT_REFRESH_SCHEDULE,
  };
}

export function credentialProviderHelp(): string {
  return renderHelp(USAGE, CREDENTIAL_PROVIDER_OPTIONS, ENV_PREFIX);
}
