// The Secrets kube-regcred writes (types and data keys) and their Docker config: parse, merge one
// registry's token into, and serialize a `.dockerconfigjson` (pure). Everything we do not own (other
// registries, other top-level keys like credHelpers) passes through untouched.
import { RegcredError } from './errors.ts';
import { isPlainObject } from './plain-object.ts';

/** The Secret type of pull secrets (kubelet and ServiceAccounts consume it). */
export const DOCKER_CONFIG_JSON_TYPE = 'kubernetes.io/dockerconfigjson';
/** Push secrets: never a type kubelet or ServiceAccounts consume. */
export const PUSH_SECRET_TYPE = 'Opaque';
/** The data key of a pull secret. */
export const DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';
/** The key of a push secret: the file build tools (kaniko, buildah, skopeo) mount as config.json. */
export const CONFIG_JSON_KEY = 'config.json';

/** The data key holding the Docker config: `config.json` in an Opaque push secret, else `.dockerconfigjson`. */
export function configKeyOf(secret: { type?: string | undefined }): string {
  return secret.type === PUSH_SECRET_TYPE ? CONFIG_JSON_KEY : DOCKER_CONFIG_JSON_KEY;
}

/** The username registries expect with a bearer-style token as password. */
export const TOKEN_USERNAME = '_token';

/** One `auths` entry as Docker-compatible clients read it; unknown fields are kept. */
export interface DockerAuthEntry {
  username?: string;
  password?: string;
  auth?: string;
  [key: string]: unknown;
}

export interface DockerConfig {
  auths?: Record<string, unknown>;
  [key: string]: unknown;
}


/**
 * Reads `.dockerconfigjson`. Missing, empty or whitespace counts as `{}` (a freshly created pull secret);
 * anything else must be a JSON object whose `auths`, if present, is an object. The error message never
 * includes the content: it holds other registries' credentials.
 */
export function parseDockerConfig(raw: string | undefined): DockerConfig {
  if (raw === undefined || raw.trim() === '') return {};
  // Checked before parsing: a deeply nested document parses, but every later walk over it (serializing
  // it back) recurses and overflows the stack, an "internal" failure that would be retried forever.
  if (nestingDepth(raw) > MAX_DOCKER_CONFIG_DEPTH) {
    throw new RegcredError('DockerConfigInvalid', `.dockerconfigjson is nested deeper than ${MAX_DOCKER_CONFIG_DEPTH} levels`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    // The SyntaxError's message quotes the input: do not keep it as the cause.
    throw new RegcredError('DockerConfigInvalid', '.dockerconfigjson is not valid JSON');
  }
  if (!isPlainObject(parsed)) throw new RegcredError('DockerConfigInvalid', '.dockerconfigjson is not a JSON object');
  if (parsed.auths !== undefined && !isPlainObject(parsed.auths)) {
    throw new RegcredError('DockerConfigInvalid', '.dockerconfigjson "auths" is not an object');
  }
  return parsed as DockerConfig;
}

/**
 * The largest Docker config document (decoded bytes) the controller reads. A pull secret holds a few
 * KiB (one entry per registry); anything larger is refused, and its data is not even kept in memory, so
 * no tenant can grow the controller's memory with large Secrets.
 */
export const MAX_DOCKER_CONFIG_BYTES = 64 * 1024;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The Docker config document from the Secret's base64 data value. Throws DockerConfigInvalid when the
 * bytes are not UTF-8: decoding them leniently would turn them into U+FFFD and the next write would
 * silently change other registries' entries.
 */
export function decodeDockerConfig(base64: string): string {
  try {
    return UTF8.decode(Buffer.from(base64, 'base64'));
  } catch {
    throw new RegcredError('DockerConfigInvalid', '.dockerconfigjson is not valid UTF-8: it is left as it is');
  }
}

/** The error for a Docker config too large to be read (the informer dropped its data). */
export function dockerConfigTooLarge(bytes: number): RegcredError {
  return new RegcredError('DockerConfigTooLarge', `.dockerconfigjson is ${bytes} bytes, more than the ${MAX_DOCKER_CONFIG_BYTES} bytes the controller reads`);
}

/** Real Docker configs nest 3-4 levels (auths → registry → entry); far more is hostile or broken. */
export const MAX_DOCKER_CONFIG_DEPTH = 32;

/**
 * The deepest `{`/`[` nesting of a JSON text (outside strings), stopping early once past the limit.
 * A scan rather than a recursive walk, so it cannot itself overflow the stack.
 */
export function nestingDepth(text: string, stopAbove = MAX_DOCKER_CONFIG_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** `user:password` in base64, the `auth` field skopeo and containers/image read. */
export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/**
 * A new config whose `auths[registry]` holds `token` in all three fields (clients differ in which they
 * read). The entry is replaced whole: a stale `identitytoken` or `registrytoken` left beside ours would
 * win in some clients. Neither `config` nor anything inside it is modified.
 */
/** `username` is `_token` for exchanged tokens; a pass-through registry may want another (its configuration). */
export function withRegistryToken(config: DockerConfig, registry: string, token: string, username = TOKEN_USERNAME): DockerConfig {
  const entry: DockerAuthEntry = { username, password: token, auth: encodeAuth(username, token) };
  return { ...config, auths: { ...(config.auths ?? {}), [registry]: entry } };
}

export function serializeDockerConfig(config: DockerConfig): string {
  // Programming error, never input: writing the entry would replace its credential with nothing.
  if (hasOmittedEntry(config)) throw new Error('a Docker config with an omitted entry cannot be serialized: read the document first');
  return JSON.stringify(config);
}

/** The document as a Secret's data holds it: serialized, base64. */
export function encodeDockerConfig(config: DockerConfig): string {
  return Buffer.from(serializeDockerConfig(config), 'utf8').toString('base64');
}

/** True when `config` is `{"auths": {<registry>: ...}}` and nothing else, as withRegistryToken({}, registry, ...) makes it. */
export function isSingleEntryFor(config: DockerConfig, registry: string): boolean {
  let keys = 0;
  for (const key in config) if (Object.hasOwn(config, key) && ++keys > 1) return false;
  if (keys !== 1 || config.auths === undefined) return false;
  let entries = 0;
  for (const key in config.auths) if (Object.hasOwn(config.auths, key) && (++entries > 1 || key !== registry)) return false;
  return entries === 1;
}

/**
 * `auths` entries whose credential the Secret cache did not keep (kube/compact-docker-config.ts). Such an
 * entry still says who it is for (its username), so every question decide() asks has its answer, but
 * it cannot be written back: a config that still holds one after a change must be read again whole.
 */
const omittedEntries = new WeakSet<object>();

export function omittedEntry(username: string): DockerAuthEntry {
  const entry = Object.freeze({ username });
  omittedEntries.add(entry);
  return entry;
}

export function hasOmittedEntry(config: DockerConfig): boolean {
  return Object.values(config.auths ?? {}).some((entry) => typeof entry === 'object' && entry !== null && omittedEntries.has(entry));
}

/** A document that is one registry's entry and nothing else, as withRegistryToken({}, ...) writes it. */
export interface SingleEntry {
  registry: string;
  username: string;
  token: string;
}

/** What the controller writes is ~3 × the token; a document far larger is not one entry. */
export const MAX_SINGLE_ENTRY_CHARS = 16 * 1024;

/**
 * The entry of a document that is exactly what withRegistryToken({}, registry, token, username) would
 * serialize, byte for byte; undefined for anything else (other registries, other fields, another
 * order, whitespace). Only such a document can be rebuilt from its three parts, which is what lets the
 * cache keep the parts instead of the document.
 */
export function readSingleEntry(text: string): SingleEntry | undefined {
  if (text.length > MAX_SINGLE_ENTRY_CHARS || !text.startsWith('{"auths":{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed) || !isPlainObject(parsed.auths)) return undefined;
  const registries = Object.keys(parsed.auths);
  if (registries.length !== 1) return undefined;
  const registry = registries[0]!;
  const entry = parsed.auths[registry];
  if (!isPlainObject(entry)) return undefined;
  const { username, password } = entry;
  if (typeof username !== 'string' || typeof password !== 'string' || password === '') return undefined;
  if (serializeDockerConfig(withRegistryToken({}, registry, password, username)) !== text) return undefined;
  return { registry, username, token: password };
}

/** True when `auths` has any entry for `registry` (ours or not). */
export function hasRegistryEntry(config: DockerConfig, registry: string): boolean {
  return config.auths !== undefined && Object.hasOwn(config.auths, registry);
}

function decodeAuth(auth: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The token kube-regcred keeps for `registry`, or undefined when there is none we can stand behind:
 * no entry, a username other than `_token` (someone else's credential), or `password` and `auth`
 * disagreeing. The last case matters: skopeo reads only `auth` and other clients only `password`, so a
 * half-updated entry must count as unreadable and be rewritten, not trusted by its better half.
 */
export function readRegistryToken(config: DockerConfig, registry: string, expectedUsername = TOKEN_USERNAME): string | undefined {
  if (!hasRegistryEntry(config, registry)) return undefined;
  const entry = config.auths?.[registry];
  if (!isPlainObject(entry)) return undefined;
  const { username, password, auth } = entry;
  if (auth !== undefined && (typeof auth !== 'string' || auth === '')) return undefined;
  const fromAuth = auth === undefined ? undefined : decodeAuth(auth);
  if (auth !== undefined && !fromAuth) return undefined; // garbage `auth`: skopeo would fail with it
  const user = typeof username === 'string' ? username : fromAuth?.username;
  if (user !== expectedUsername || (fromAuth && fromAuth.username !== expectedUsername)) return undefined;
  const token = typeof password === 'string' && password !== '' ? password : fromAuth?.password;
  if (!token || (fromAuth && fromAuth.password !== token)) return undefined;
  return token;
}

/**
 * True when `auths[registry]` is an entry kube-regcred wrote (username `_token`, in `username` or in
 * `auth`), even a half-broken one: what a revocation or a registry change removes. Someone else's
 * credential for the same registry (another username) is never ours to remove.
 */
export function hasOwnRegistryEntry(config: DockerConfig, registry: string, ownUsername = TOKEN_USERNAME): boolean {
  if (!hasRegistryEntry(config, registry)) return false;
  const entry = config.auths?.[registry];
  if (!isPlainObject(entry)) return false;
  if (entry.username === ownUsername) return true;
  return typeof entry.auth === 'string' && decodeAuth(entry.auth)?.username === ownUsername;
}

/** A new config without `auths[registry]`; everything else is kept. `config` is not modified. */
export function withoutRegistryEntry(config: DockerConfig, registry: string): DockerConfig {
  if (!hasRegistryEntry(config, registry)) return config;
  const auths = { ...(config.auths ?? {}) };
  delete auths[registry];
  return { ...config, auths };
}
