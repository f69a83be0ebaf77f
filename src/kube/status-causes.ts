// Why the apiserver refused an object, told without the values it refused: validation messages quote
// the rejected value, and for a Secret that value is secret data.
import { bodyExcerpt } from '../redact.ts';

const FIELD_PATH = /^[A-Za-z0-9_.[\]\-/]{1,120}$/;

/**
 * Why the apiserver refused an object (a 400/422 Status): each cause's field and reason type, and its
 * message with every quoted part removed (validation messages quote the rejected value, which can be
 * secret data), redacted and shortened. "data: FieldValueTooLong (Too long: may not be more than
 * 1048576 bytes)" rather than only "HTTP 422 Invalid".
 */
export function statusCauses(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const details = (body as { details?: { causes?: unknown } }).details;
  const causes = Array.isArray(details?.causes) ? details.causes.slice(0, 3) : [];
  const parts: string[] = [];
  for (const cause of causes) {
    if (!cause || typeof cause !== 'object') continue;
    const { field, reason, message } = cause as { field?: unknown; reason?: unknown; message?: unknown };
    const where = typeof field === 'string' && FIELD_PATH.test(field) ? field : 'object';
    const type = typeof reason === 'string' && /^[A-Za-z]{1,40}$/.test(reason) ? reason : 'Invalid';
    const why = typeof message === 'string' ? withoutValues(message) : '';
    parts.push(`${where}: ${type}${why ? ` (${why})` : ''}`);
  }
  if (parts.length > 0) return parts.join('; ');
  const message = (body as { message?: unknown }).message;
  return typeof message === 'string' ? withoutValues(message) || undefined : undefined;
}

function withoutValues(message: string): string {
  const unquoted = message.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/'[^']*'/g, "'…'");
  return bodyExcerpt(unquoted, 160);
}
