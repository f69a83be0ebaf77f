// Parses the Authorization header: Bearer for /sts/exchange, Basic (or the OAuth2 form) for /token.
// Nothing here logs or echoes what it parses.
import { RegcredError } from '../errors.ts';

export interface BasicCredentials {
  username: string;
  password: string;
}

/** Header values past this are refused before decoding; a JWT and a short username fit easily. */
export const MAX_AUTHORIZATION_LENGTH = 24_576;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function invalid(reason: string): RegcredError {
  return new RegcredError('CredentialInvalid', `credentials refused: ${reason}`, { status: 401 });
}

/** The token of `Authorization: Bearer <token>`; CredentialMissing without a header. */
export function parseBearer(header: string | undefined): string {
  if (header === undefined || header === '') throw new RegcredError('CredentialMissing', 'bearer token required', { status: 401 });
  if (header.length > MAX_AUTHORIZATION_LENGTH) throw invalid('too long');
  const match = /^Bearer +([^\s]+)\s*$/i.exec(header);
  if (!match) throw invalid('expected a Bearer token');
  return match[1]!;
}

/** `Authorization: Basic base64(user:password)`, strictly: not base64, or no `:`, is refused. */
export function parseBasic(header: string | undefined): BasicCredentials {
  if (header === undefined || header === '') throw new RegcredError('CredentialMissing', 'credentials required', { status: 401 });
  if (header.length > MAX_AUTHORIZATION_LENGTH) throw invalid('too long');
  const match = /^Basic +([^\s]+)\s*$/i.exec(header);
  if (!match) throw invalid('expected Basic credentials');
  const encoded = match[1]!;
  // Buffer.from(…, 'base64') silently skips junk; check the alphabet and length first.
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) throw invalid('not base64');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw invalid('expected user:password');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
