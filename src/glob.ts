// Glob patterns for sts subjects and repositories and for the identity policy's namespaces, compiled
// into anchored RegExps.
//
// One syntax for all, so a reader learns it once:
//   `*`  any run of characters except the separator (`:` for subjects, `/` for repositories)
//   `**` any run of characters, separators included
//   `?`  exactly one character that is not the separator
// Names without a separator (namespaces) have no difference between `*` and `**`, so there any run of
// `*` is simply "any run of characters".
// Everything else is literal. Patterns are always anchored: `ci/*` never matches `team/ci/x`.
// Globs rather than regular expressions: a forgotten `^`/`$` or an unescaped `.` in a regex is the
// classic way such a policy grants more than meant, and globs cannot backtrack catastrophically.

export type GlobSeparator = ':' | '/';

/** The longest pattern accepted; subjects and repository names are far shorter in practice. */
export const MAX_PATTERN_LENGTH = 512;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * Compiles a glob into an anchored RegExp; `separator` undefined: names that have none (namespaces).
 * Throws a plain Error (the caller adds the field path).
 */
export function compileGlob(pattern: string, separator?: GlobSeparator): RegExp {
  if (pattern.length === 0) throw new Error('must not be empty');
  if (pattern.length > MAX_PATTERN_LENGTH) throw new Error(`must be at most ${MAX_PATTERN_LENGTH} characters`);
  if (separator !== undefined && pattern.includes('***')) throw new Error('"***" is ambiguous; use "**"');
  const notSeparator = separator === undefined ? '.' : `[^${escapeRegExp(separator)}]`;
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (separator === undefined && char === '*') {
      while (pattern[i + 1] === '*') i++;
      source += '.*';
    } else if (char === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (char === '*') {
      source += `${notSeparator}*`;
    } else if (char === '?') {
      source += notSeparator;
    } else {
      source += escapeRegExp(char);
    }
  }
  // The `s` flag lets `**` cross newlines too, so no input can slip past by containing one.
  return new RegExp(`^${source}$`, 's');
}

/** True when the glob has no wildcard, so it can be compared as a plain string. */
export function isLiteralGlob(pattern: string): boolean {
  return !/[*?]/.test(pattern);
}
