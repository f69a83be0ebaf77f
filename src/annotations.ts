// The Secret annotations of kube-regcred: their names, parsing the opt-in ones into a target (pure),
// and formatting the status ones the controller writes.
import { RegcredError } from './errors.ts';
import { bodyExcerpt } from './redact.ts';
import { passthroughTargetFor, type PassthroughSettings, type PassthroughTarget } from './passthrough-target.ts';

export const ANNOTATIONS = {
  /** The identity (UID) to exchange for; its presence opts the Secret in. */
  identity: 'kube-regcred.io/identity',
  /** Chainguard pull-secret-updater's name for the same thing, so Secrets can move over untouched. */
  identityAlias: 'pull-secret-updater.chainguard.dev/identity',
  /** Which configured registry the token is for; the default registry when absent. */
  registry: 'kube-regcred.io/registry',
  /** `pull` (default: a kubernetes.io/dockerconfigjson Secret) or `push` (an Opaque Secret, key config.json). */
  access: 'kube-regcred.io/access',
  /**
   * Per-workload identity: exchange a token of THIS ServiceAccount (in the Secret's namespace) instead
   * of the controller's own. Needs --workload-identity and the workload-identity RBAC component.
   */
  serviceAccount: 'kube-regcred.io/service-account',
  /**
   * `passthrough`: write a ServiceAccount token for the registry's audience itself, no exchange (for
   * registries that verify OIDC tokens). Its presence opts the Secret in, like an identity does.
   */
  exchange: 'kube-regcred.io/exchange',
  /** ServiceAccounts (comma-separated, Secret namespace) whose imagePullSecrets must list this pull secret. */
  attachTo: 'kube-regcred.io/attach-to',
  // Written by the controller for people and tools; never read back for a decision.
  expiresAt: 'kube-regcred.io/expires-at',
  refreshedAt: 'kube-regcred.io/refreshed-at',
  lastError: 'kube-regcred.io/last-error',
  /**
   * Written by the controller: which target the token in the Secret was issued for. Read back ONLY to
   * force a refresh when the Secret now asks for something else; never to skip one (anyone with patch
   * rights could set it).
   */
  tokenFor: 'kube-regcred.io/token-for',
} as const;

/** The annotations whose presence opts a Secret in (isManaged). */
export const OPT_IN_ANNOTATIONS: readonly string[] = [ANNOTATIONS.identity, ANNOTATIONS.identityAlias, ANNOTATIONS.exchange];

/** What a Secret uses its identity for; `push` Secrets are Opaque with key config.json. */
export type Access = 'pull' | 'push';

/** What a managed Secret asks for. */
export interface Target {
  identity: string;
  registry: string;
  access: Access;
  /** The Secret-namespace ServiceAccount whose token is exchanged; absent: the controller's own. */
  serviceAccount?: string;
  /** Set for a pass-through Secret (then `identity` is empty: no identity is exchanged for). */
  passthrough?: PassthroughTarget;
}

export interface TargetSettings extends PassthroughSettings {
  /** Used when the Secret has no registry annotation; always allowed. */
  defaultRegistry: string;
  /** Registries a Secret may choose with the registry annotation (host[:port]). */
  registries: readonly string[];
}

/**
 * True when the Secret opted in with either identity annotation, whatever its value: an empty or
 * malformed identity is a mistake to report on the Secret, not a reason to look away.
 */
export function isManaged(annotations?: Record<string, string>): boolean {
  if (!annotations) return false;
  return OPT_IN_ANNOTATIONS.some((key) => Object.hasOwn(annotations, key));
}

/**
 * Identity UIDs. Chainguard's are `<group id hex>/<identity id hex>` (a hex path, e.g.
 * `720909c9f52790.../a033a6fabe0bfa0d`); other compatible services (our own `sts`) may use names. We
 * accept 1-253 characters of [A-Za-z0-9._:/-]: every real UID fits, and nothing that could smuggle
 * whitespace, control characters, or query syntax (`&`, `=`, `?`, `#`, `%`) into the exchange URL or
 * the logs. 253 keeps the value bounded, like a DNS name.
 */
const IDENTITY_PATTERN = /^[A-Za-z0-9._:/-]{1,253}$/;

/** A DNS name (labels of letters, digits, inner hyphens) or an IPv4 address, with an optional port. */
const HOST_PORT_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(?::(\d{1,5}))?$/;

/** Throws IdentityInvalid unless `value` is a plausible identity UID. Never echoes odd characters. */
export function parseIdentity(value: string | undefined): string {
  if (value === undefined || value.trim() === '') {
    throw new RegcredError('IdentityInvalid', 'identity annotation is empty');
  }
  if (value.length > 253) throw new RegcredError('IdentityInvalid', 'identity annotation is longer than 253 characters');
  if (!IDENTITY_PATTERN.test(value)) {
    throw new RegcredError(
      'IdentityInvalid',
      'identity annotation is not a UID (expected 1-253 characters of A-Z a-z 0-9 . _ : / -)',
    );
  }
  return value;
}

/** Throws RegistryInvalid unless `value` is host[:port]; returns it lower-cased (hosts are case-insensitive). */
export function parseRegistryHost(value: string): string {
  if (value === '') throw new RegcredError('RegistryInvalid', 'registry annotation is empty');
  if (value.includes('://')) {
    throw new RegcredError('RegistryInvalid', 'registry must be host[:port], without a scheme');
  }
  if (value.length > 261) throw new RegcredError('RegistryInvalid', 'registry is too long to be host[:port]');
  const match = HOST_PORT_PATTERN.exec(value);
  if (!match) throw new RegcredError('RegistryInvalid', 'registry must be host[:port] (no path, no spaces)');
  const port = match[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new RegcredError('RegistryInvalid', 'registry port must be 1-65535');
  }
  return value.toLowerCase();
}

/**
 * The target a managed Secret asks for. Throws RegcredError IdentityInvalid, RegistryInvalid or
 * RegistryNotConfigured: all permanent, fixed only by editing the Secret or the configuration.
 */
export function parseTarget(annotations: Record<string, string>, settings: TargetSettings): Target {
  const primary = annotations[ANNOTATIONS.identity];
  const alias = annotations[ANNOTATIONS.identityAlias];
  if (primary !== undefined && alias !== undefined && primary !== alias) {
    // Picking one silently would hand the Secret a token for an identity its author may not mean.
    throw new RegcredError(
      'IdentityInvalid',
      `${ANNOTATIONS.identity} and ${ANNOTATIONS.identityAlias} are both set and differ`,
    );
  }
  const requested = annotations[ANNOTATIONS.registry];
  const registry = requested === undefined ? settings.defaultRegistry.toLowerCase() : parseRegistryHost(requested);
  const allowed = new Set([settings.defaultRegistry, ...settings.registries, ...Object.keys(settings.passthroughRegistries ?? {})].map((r) => r.toLowerCase()));
  if (!allowed.has(registry)) {
    throw new RegcredError('RegistryNotConfigured', `registry ${registry} is not among the configured registries`);
  }
  const passthrough = passthroughTargetFor(registry, annotations[ANNOTATIONS.exchange], settings);
  // A pass-through Secret exchanges nothing: an identity annotation on it is not used (nor validated).
  const identity = passthrough ? '' : parseIdentity(primary ?? alias);
  const target: Target = { identity, registry, access: parseAccess(annotations[ANNOTATIONS.access]) };
  if (passthrough) target.passthrough = passthrough;
  const serviceAccount = annotations[ANNOTATIONS.serviceAccount];
  if (serviceAccount !== undefined) target.serviceAccount = parseServiceAccountName(serviceAccount);
  return target;
}

/** A ServiceAccount name is a DNS-1123 subdomain (lower case, digits, `-`, `.`, at most 253). */
const SERVICE_ACCOUNT_PATTERN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The attach-to list: ServiceAccount names, de-duplicated, in order. Absent: []. Throws
 * ServiceAccountInvalid for an empty list or an invalid name.
 */
export function parseAttachTo(value: string | undefined): string[] {
  if (value === undefined) return [];
  const names = value.split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (names.length === 0) throw new RegcredError('ServiceAccountInvalid', `${ANNOTATIONS.attachTo} lists no ServiceAccount`);
  return [...new Set(names.map((name) => parseServiceAccountName(name, ANNOTATIONS.attachTo)))];
}

/** Throws ServiceAccountInvalid unless `value` is a valid ServiceAccount name; `annotation` names where it came from. */
export function parseServiceAccountName(value: string, annotation: string = ANNOTATIONS.serviceAccount): string {
  if (value.length === 0 || value.length > 253 || !SERVICE_ACCOUNT_PATTERN.test(value)) {
    const what = annotation === ANNOTATIONS.attachTo ? 'lists a name that is not a ServiceAccount name' : 'is not a ServiceAccount name';
    throw new RegcredError('ServiceAccountInvalid', `${annotation} ${what} (DNS-1123 subdomain)`);
  }
  return value;
}

/** Throws AccessInvalid unless the access annotation is absent (pull), `pull` or `push`. */
export function parseAccess(value: string | undefined): Access {
  if (value === undefined || value === 'pull') return 'pull';
  if (value === 'push') return 'push';
  // A short word is shown (`PUSH`: a case typo is the usual mistake); anything else is not echoed.
  const shown = /^[A-Za-z-]{1,16}$/.test(value) ? ` (got ${value})` : '';
  throw new RegcredError('AccessInvalid', `${ANNOTATIONS.access} must be pull or push, in lower case${shown}`);
}

/**
 * The token-for value for a target: `identity=<uid>,registry=<host>[,access=push]`. Identity UIDs and
 * hosts cannot contain `,` or `=` (parseIdentity, parseRegistryHost), so the value is unambiguous.
 */
export function formatTokenFor(target: Target): string {
  if (target.passthrough) {
    const sa = target.serviceAccount !== undefined ? `,service-account=${target.serviceAccount}` : '';
    return `exchange=passthrough,audience=${target.passthrough.audience},registry=${target.registry}${sa}`;
  }
  const access = target.access === 'push' ? ',access=push' : '';
  const serviceAccount = target.serviceAccount !== undefined ? `,service-account=${target.serviceAccount}` : '';
  return `identity=${target.identity},registry=${target.registry}${access}${serviceAccount}`;
}

/** The registry named in a token-for value, if it names one (to clean up after a registry change). */
export function registryOfTokenFor(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const match = /(?:^|,)registry=([^,]+)/.exec(value);
  return match?.[1];
}

/** An RFC 3339 instant in UTC, to the second (what Kubernetes itself writes). */
export function formatInstant(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The last-error value: `<Code>: <short message>`. The message is already meant to be secret-free;
 * it is redacted and shortened again because an annotation is readable by anyone who can read the Secret's
 * metadata.
 */
export function formatLastError(error: RegcredError, maxChars = 256): string {
  return bodyExcerpt(`${error.code}: ${error.message}`, maxChars);
}

export interface Status {
  /** The target the written token is for (token-for). */
  target?: Target;
  expiresAt?: Date;
  refreshedAt?: Date;
  /** An error to record; `null` clears a previous one (after a successful write). */
  error?: RegcredError | null;
}

/**
 * Status annotation values for a patch. A `null` value means "remove the annotation" (JSON merge
 * patch semantics); fields absent from `status` are absent from the result (left as they are).
 */
export function formatStatus(status: Status): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (status.target) out[ANNOTATIONS.tokenFor] = formatTokenFor(status.target);
  if (status.expiresAt) out[ANNOTATIONS.expiresAt] = formatInstant(status.expiresAt);
  if (status.refreshedAt) out[ANNOTATIONS.refreshedAt] = formatInstant(status.refreshedAt);
  if (status.error === null) out[ANNOTATIONS.lastError] = null;
  else if (status.error) out[ANNOTATIONS.lastError] = formatLastError(status.error);
  return out;
}
