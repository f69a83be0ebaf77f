// Removes secret-looking material from text that came from a peer (an STS error body) before any of it
// reaches an error message, a log line, an Event or the last-error annotation.

const REDACTED = '[redacted]';

/** Names of fields that hold credentials, in JSON bodies, forms and headers. */
const CREDENTIAL_KEYS = 'token|access_token|id_token|refresh_token|identitytoken|registrytoken|password|passwd|auth|secret|client_secret|assertion';

/**
 * Only what has the shape of a credential: a Bearer/Basic value, the value of a credential-named field,
 * a JWT, or a base64 run. Identifiers people need to read (a 40-hex Chainguard identity UID, namespace
 * and Secret names, words like "API") must survive, or Events and last-error stop being useful.
 */
const PATTERNS: ReadonlyArray<readonly [RegExp, string | ((match: string) => string)]> = [
  // `Authorization: Bearer x`, `Basic x`: whatever follows the scheme is a credential.
  [/\b(Bearer|Basic)(\s+)[^\s"',;]+/gi, `$1$2${REDACTED}`],
  // JSON: "token": "x" (the quoted key makes it unambiguous).
  [new RegExp(`("(?:${CREDENTIAL_KEYS})"\\s*:\\s*")[^"]*`, 'gi'), `$1${REDACTED}`],
  // Forms, queries and headers: password=x, token: x. The key must start a word that is not part of a
  // name: `pull-secret: API server unreachable` is a Secret name and a message, not a credential.
  [new RegExp(`(?<![\\w./-])((?:${CREDENTIAL_KEYS})\\s*[:=]\\s*)(?!\\[redacted\\])[^"\\s,}&]+`, 'gi'), `$1${REDACTED}`],
  // A JWT (or a JWT header alone): base64url of `{"` is `eyJ`.
  [/eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){0,2}/g, REDACTED],
  // A base64 / base64url run of 32+ characters that mixes upper case, lower case and digits (or ends
  // in padding): random key material always does; hex UIDs, names and words never do.
  [/[A-Za-z0-9+/_-]{32,}={0,2}/g, (match) => (isBase64Credential(match) ? REDACTED : match)],
];

function isBase64Credential(run: string): boolean {
  if (run.endsWith('=')) return true;
  return /[A-Z]/.test(run) && /[a-z]/.test(run) && /[0-9]/.test(run);
}

/** `text` with every credential-looking part replaced by `[redacted]`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement as (match: string) => string);
  return out;
}

/**
 * A short, single-line, redacted excerpt of a peer's answer, for an error message. Redaction runs on
 * the whole text before truncation so that a credential cut in half cannot slip through unmatched.
 */
export function bodyExcerpt(body: string, maxChars = 200): string {
  const flat = redactSecrets(body).replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim();
  return flat.length <= maxChars ? flat : `${flat.slice(0, maxChars - 1)}…`;
}
