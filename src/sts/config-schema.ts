// The token service's configuration file: its types and a pure validator whose messages name the
// field path (`identities[2].grants[0].repository: ...`). Files (keys, CAs, JWKS) are read later.
import { RegcredError } from '../errors.ts';
import { isPlainObject } from '../plain-object.ts';
import { checkKeys, httpsUrl, lifetime, str, strList, type Problems } from './config-fields.ts';
import { compileGlob } from '../glob.ts';
import { compileCondition, conditionErrorMessage } from './condition.ts';

/** How a registry token names its signing key; see docs/sts.md for which registry needs which. */
export const HEADER_STYLES = ['x5c', 'jwk', 'kid', 'jwks'] as const;
export type HeaderStyle = (typeof HEADER_STYLES)[number];

/**
 * Algorithms an OIDC issuer may sign with. `none` and the HMAC family are absent on purpose: an
 * HMAC "verified" with a public key is the classic algorithm-confusion forgery.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA',
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
export const DEFAULT_ALGORITHMS: readonly AsymmetricAlgorithm[] = ['RS256', 'ES256'];

export const ACTIONS = ['pull', 'push'] as const;
export type Action = (typeof ACTIONS)[number];

export interface IssuerConfig {
  /** Short name, referenced by identities and used as the Basic-auth username for raw OIDC tokens. */
  name: string;
  /** The `iss` claim, exactly. With no static JWKS, `{issuer}/.well-known/openid-configuration` is read. */
  issuer: string;
  /** Accepted `aud` values; a token must carry at least one. */
  audiences: string[];
  algorithms: AsymmetricAlgorithm[];
  /** A static JWKS instead of discovery: inline, or a file path. */
  jwks?: { keys: unknown[] };
  jwksFile?: string;
  /** PEM bundle trusted for discovery and JWKS fetches (e.g. a cluster's private CA). */
  caFile?: string;
  /** Bearer token sent with discovery and JWKS fetches (e.g. the sts's projected ServiceAccount token). */
  bearerTokenFile?: string;
  /** How long the last keys fetched keep verifying while the issuer is unreachable, ms. Default 6h. */
  keysMaxStaleMs?: number;
  /** Also ask the apiserver (TokenReview) about every token: for a Kubernetes ServiceAccount issuer. */
  tokenReview?: boolean;
}

export interface GrantConfig {
  /** Repository glob (`*` within a path segment, `**` across). */
  repository: string;
  actions: Action[];
}

export interface IdentityConfig {
  uid: string;
  /** Name of an entry of `issuers`. */
  issuer: string;
  subject?: string;
  /** Subject glob (`*` within a `:`-separated part, `**` across). */
  subjectPattern?: string;
  /** CEL expression over `claims`; must evaluate to true. */
  condition?: string;
  grants: GrantConfig[];
}

export interface StsConfig {
  /** Registry service name: the `aud` of every registry token and the expected `service` parameter. */
  service: string;
  /** `iss` of registry tokens; the registry's `auth.token.issuer`. */
  tokenIssuer: string;
  /** The public URL of `/token` for WWW-Authenticate challenges; default derived from the request. */
  realm?: string;
  /** Values accepted as `aud` by /sts/exchange besides `service` (e.g. the registry's host name). */
  exchangeAudiences: string[];
  /** Lifetime of tokens from /sts/exchange (a credential for /token), milliseconds. */
  exchangeLifetimeMs: number;
  /** Lifetime of tokens from /token (presented to the registry), milliseconds. */
  registryLifetimeMs: number;
  signing: { keyFile: string; certificateFile?: string; headerStyle: HeaderStyle };
  issuers: IssuerConfig[];
  identities: IdentityConfig[];
}

const DEFAULTS = { exchangeLifetime: '1h', registryLifetime: '5m', headerStyle: 'x5c' } as const;
/** Issuer names double as Basic-auth usernames, so they must not collide with `_token` or hold a `:`. */
const ISSUER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const UID = /^[A-Za-z0-9][A-Za-z0-9._\/-]{0,252}$/;

function validateIssuer(raw: unknown, path: string, problems: Problems): IssuerConfig | undefined {
  if (!isPlainObject(raw)) {
    problems.push(`${path}: must be a mapping`);
    return undefined;
  }
  checkKeys(raw, path, ['name', 'issuer', 'audiences', 'algorithms', 'jwks', 'jwksFile', 'caFile', 'bearerTokenFile', 'keysMaxStale', 'tokenReview'], problems);
  const name = str(raw, 'name', path, problems, true);
  if (name !== undefined && !ISSUER_NAME.test(name)) {
    problems.push(`${path}.name: letters, digits, ".", "_", "-" only (it is a Basic-auth username)`);
  }
  const issuer = str(raw, 'issuer', path, problems, true);
  if (issuer !== undefined) httpsUrl(issuer, `${path}.issuer`, problems);
  const audiences = strList(raw, 'audiences', path, problems, true);
  if (audiences !== undefined && audiences.length === 0) problems.push(`${path}.audiences: must list at least one audience`);
  const algorithms = strList(raw, 'algorithms', path, problems, false) ?? [...DEFAULT_ALGORITHMS];
  algorithms.forEach((alg, i) => {
    if (!(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      problems.push(`${path}.algorithms[${i}]: "${alg}" is not allowed (one of ${ASYMMETRIC_ALGORITHMS.join(', ')})`);
    }
  });
  if (algorithms.length === 0) problems.push(`${path}.algorithms: must not be empty`);
  const jwksFile = str(raw, 'jwksFile', path, problems, false);
  const caFile = str(raw, 'caFile', path, problems, false);
  let jwks: { keys: unknown[] } | undefined;
  if (raw.jwks !== undefined) {
    if (!isPlainObject(raw.jwks) || !Array.isArray(raw.jwks.keys)) problems.push(`${path}.jwks: must be a JWKS ({keys: [...]})`);
    else jwks = { keys: raw.jwks.keys };
  }
  if (jwks !== undefined && jwksFile !== undefined) problems.push(`${path}: set jwks or jwksFile, not both`);
  const bearerTokenFile = str(raw, 'bearerTokenFile', path, problems, false);
  if (bearerTokenFile !== undefined && (jwks ?? jwksFile) !== undefined) problems.push(`${path}.bearerTokenFile: only with discovery (no jwks/jwksFile)`);
  const keysMaxStaleMs = raw.keysMaxStale === undefined ? undefined : lifetime(raw, 'keysMaxStale', '6h', path, problems);
  if (raw.tokenReview !== undefined && typeof raw.tokenReview !== 'boolean') problems.push(`${path}.tokenReview: must be true or false`);
  if (name === undefined || issuer === undefined || audiences === undefined) return undefined;
  return {
    name,
    issuer,
    audiences,
    algorithms: algorithms as AsymmetricAlgorithm[],
    ...(jwks ? { jwks } : {}),
    ...(jwksFile ? { jwksFile } : {}),
    ...(caFile ? { caFile } : {}),
    ...(bearerTokenFile ? { bearerTokenFile } : {}),
    ...(keysMaxStaleMs !== undefined ? { keysMaxStaleMs } : {}),
    ...(raw.tokenReview === true ? { tokenReview: true } : {}),
  };
}

function validateGrant(raw: unknown, path: string, problems: Problems): GrantConfig | undefined {
  if (!isPlainObject(raw)) {
    problems.push(`${path}: must be a mapping`);
    return undefined;
  }
  checkKeys(raw, path, ['repository', 'actions'], problems);
  const repository = str(raw, 'repository', path, problems, true);
  if (repository !== undefined) {
    if (/[A-Z\s]/.test(repository)) problems.push(`${path}.repository: repository names are lower case, without spaces`);
    try {
      compileGlob(repository, '/');
    } catch (err) {
      problems.push(`${path}.repository: ${(err as Error).message}`);
    }
  }
  const actions = strList(raw, 'actions', path, problems, true);
  if (actions !== undefined) {
    if (actions.length === 0) problems.push(`${path}.actions: must list pull and/or push`);
    actions.forEach((action, i) => {
      if (!(ACTIONS as readonly string[]).includes(action)) {
        problems.push(`${path}.actions[${i}]: "${action}" is not an action (pull, push)`);
      }
    });
  }
  if (repository === undefined || actions === undefined) return undefined;
  return { repository, actions: [...new Set(actions)] as Action[] };
}

function validateIdentity(raw: unknown, path: string, issuerNames: Set<string>, problems: Problems): IdentityConfig | undefined {
  if (!isPlainObject(raw)) {
    problems.push(`${path}: must be a mapping`);
    return undefined;
  }
  checkKeys(raw, path, ['uid', 'issuer', 'subject', 'subjectPattern', 'condition', 'grants'], problems);
  const uid = str(raw, 'uid', path, problems, true);
  if (uid !== undefined && !UID.test(uid)) problems.push(`${path}.uid: letters, digits, ".", "_", "-", "/" only, at most 253`);
  const issuer = str(raw, 'issuer', path, problems, true);
  if (issuer !== undefined && !issuerNames.has(issuer)) problems.push(`${path}.issuer: no issuer named "${issuer}"`);
  const subject = str(raw, 'subject', path, problems, false);
  const subjectPattern = str(raw, 'subjectPattern', path, problems, false);
  // Exactly one subject rule: an identity that matches any subject of an issuer must say so with `**`.
  if ((subject === undefined) === (subjectPattern === undefined)) problems.push(`${path}: set exactly one of subject, subjectPattern`);
  if (subjectPattern !== undefined) {
    try {
      compileGlob(subjectPattern, ':');
    } catch (err) {
      problems.push(`${path}.subjectPattern: ${(err as Error).message}`);
    }
  }
  const condition = str(raw, 'condition', path, problems, false);
  if (condition !== undefined) {
    try {
      compileCondition(condition);
    } catch (err) {
      problems.push(`${path}.condition: ${conditionErrorMessage(err)}`);
    }
  }
  let grants: GrantConfig[] | undefined;
  if (!Array.isArray(raw.grants)) {
    problems.push(`${path}.grants: required, a list`);
  } else {
    grants = raw.grants
      .map((g, i) => validateGrant(g, `${path}.grants[${i}]`, problems))
      .filter((g): g is GrantConfig => g !== undefined);
  }
  if (uid === undefined || issuer === undefined || grants === undefined) return undefined;
  return {
    uid,
    issuer,
    ...(subject !== undefined ? { subject } : {}),
    ...(subjectPattern !== undefined ? { subjectPattern } : {}),
    ...(condition !== undefined ? { condition } : {}),
    grants,
  };
}

/**
 * Validates a parsed YAML document. Collects every problem before failing, so one edit-reload cycle
 * fixes them all; throws RegcredError `ConfigInvalid` listing them.
 */
export function validateStsConfig(raw: unknown): StsConfig {
  const problems: Problems = [];
  if (!isPlainObject(raw)) throw new RegcredError('ConfigInvalid', 'configuration: must be a YAML mapping');
  checkKeys(raw, '', ['service', 'tokenIssuer', 'realm', 'exchangeAudiences', 'lifetimes', 'signing', 'issuers', 'identities'], problems);
  const service = str(raw, 'service', '', problems, true);
  const tokenIssuer = str(raw, 'tokenIssuer', '', problems, true);
  const realm = str(raw, 'realm', '', problems, false);
  if (realm !== undefined) {
    try {
      const url = new URL(realm);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') problems.push('realm: must be an http(s) URL');
    } catch {
      problems.push('realm: not a URL');
    }
    if (/["\\\s]/.test(realm)) problems.push('realm: must not contain quotes, backslashes or spaces');
  }
  if (service !== undefined && /["\\\s]/.test(service)) problems.push('service: must not contain quotes, backslashes or spaces');
  const exchangeAudiences = strList(raw, 'exchangeAudiences', '', problems, false) ?? [];

  const lifetimes = raw.lifetimes ?? {};
  let exchangeLifetimeMs = 0;
  let registryLifetimeMs = 0;
  if (!isPlainObject(lifetimes)) problems.push('lifetimes: must be a mapping');
  else {
    checkKeys(lifetimes, 'lifetimes', ['exchange', 'registry'], problems);
    exchangeLifetimeMs = lifetime(lifetimes, 'exchange', DEFAULTS.exchangeLifetime, 'lifetimes', problems);
    registryLifetimeMs = lifetime(lifetimes, 'registry', DEFAULTS.registryLifetime, 'lifetimes', problems);
  }

  let signing: StsConfig['signing'] | undefined;
  if (!isPlainObject(raw.signing)) problems.push('signing: required, a mapping');
  else {
    checkKeys(raw.signing, 'signing', ['keyFile', 'certificateFile', 'headerStyle'], problems);
    const keyFile = str(raw.signing, 'keyFile', 'signing', problems, true);
    const certificateFile = str(raw.signing, 'certificateFile', 'signing', problems, false);
    const headerStyle = raw.signing.headerStyle ?? DEFAULTS.headerStyle;
    if (!(HEADER_STYLES as readonly unknown[]).includes(headerStyle)) {
      problems.push(`signing.headerStyle: must be one of ${HEADER_STYLES.join(', ')}`);
    } else if (headerStyle === 'x5c' && certificateFile === undefined) {
      problems.push('signing.certificateFile: required with headerStyle x5c');
    }
    if (keyFile !== undefined) {
      signing = { keyFile, headerStyle: headerStyle as HeaderStyle, ...(certificateFile ? { certificateFile } : {}) };
    }
  }

  const issuers: IssuerConfig[] = [];
  if (!Array.isArray(raw.issuers) || raw.issuers.length === 0) problems.push('issuers: required, a non-empty list');
  else {
    raw.issuers.forEach((item, i) => {
      const issuer = validateIssuer(item, `issuers[${i}]`, problems);
      if (!issuer) return;
      if (issuers.some((other) => other.name === issuer.name)) problems.push(`issuers[${i}].name: "${issuer.name}" is used twice`);
      // The token's `iss` picks the issuer, so two entries for one URL would be ambiguous.
      if (issuers.some((other) => other.issuer === issuer.issuer)) problems.push(`issuers[${i}].issuer: listed twice`);
      issuers.push(issuer);
    });
  }
  const issuerNames = new Set(issuers.map((issuer) => issuer.name));
  const identities: IdentityConfig[] = [];
  if (!Array.isArray(raw.identities)) problems.push('identities: required, a list');
  else {
    raw.identities.forEach((item, i) => {
      const identity = validateIdentity(item, `identities[${i}]`, issuerNames, problems);
      if (!identity) return;
      if (identities.some((other) => other.uid === identity.uid)) problems.push(`identities[${i}].uid: "${identity.uid}" is used twice`);
      identities.push(identity);
    });
  }

  if (problems.length > 0 || !service || !tokenIssuer || !signing) {
    throw new RegcredError('ConfigInvalid', `invalid configuration: ${problems.join('; ')}`);
  }
  return {
    service,
    tokenIssuer,
    ...(realm !== undefined ? { realm } : {}),
    exchangeAudiences,
    exchangeLifetimeMs,
    registryLifetimeMs,
    signing,
    issuers,
    identities,
  };
}
