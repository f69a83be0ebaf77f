// Removes secret-looking material from text that came from a peer (an STS error body) before any of it
// reaches an error message, a log line, an Event or the last-error annotation.

const REDACTED = '[redacted]';

/**
 * The patterns, most specific first. Over-redaction is the accepted failure mode: losing a long
 * identifier from an error excerpt costs a little debugging, leaking a credential costs an incident.
 */
const PATTERNS: ReadonlyArray<readonly [RegExp, string]> = [
  // `Authorization: Bearer x`, `Basic x`: whatever follows the scheme is a credential.
  [/\b(Bearer|Basic)(\s+)[^\s"',;]+/gi, `$1$2${REDACTED}`],
  // JSON or form values of credential-named keys: "token": "x", password=x, "auth":"x".
  [
    /("?\b(?:token|access_token|id_token|refresh_token|identitytoken|registrytoken|password|passwd|auth|secret|client_secret|assertion)\b"?\s*[:=]\s*"?)[^"\s,}&]+/gi,
    `$1${REDACTED}`,
  ],
  // A JWT (or a JWT header alone): base64url of `{"` is `eyJ`.
  [/eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}/g, REDACTED],
  // Any long base64 / base64url / hex run: keys, opaque tokens, `auth` values. 32 characters is shorter
  // than any credential we know of and longer than ordinary words.
  [/[A-Za-z0-9+/_-]{32,}={0,2}/g, REDACTED],
];

/** `text` with every credential-looking part replaced by `[redacted]`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
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
