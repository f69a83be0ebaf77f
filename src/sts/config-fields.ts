// Field readers for the configuration validator: each checks one field's type and records a problem
// under its path (`issuers[0].audiences: ...`) instead of throwing, so all problems surface at once.
import { parseDuration } from '../config.ts';

/** Token lifetimes: under a second is a typo, over a day defeats short-lived credentials. */
const MIN_LIFETIME_MS = 1_000;
const MAX_LIFETIME_MS = 24 * 3_600_000;

export type Problems = string[];
export type Obj = Record<string, unknown>;

export function checkKeys(obj: Obj, path: string, allowed: readonly string[], problems: Problems): void {
  for (const key of Object.keys(obj)) {
    // Unknown keys are errors: a typo such as `subjectPatern` must not silently widen a policy.
    if (!allowed.includes(key)) problems.push(`${path ? path + '.' : ''}${key}: unknown field`);
  }
}

export function str(obj: Obj, key: string, path: string, problems: Problems, required: boolean): string | undefined {
  const value = obj[key];
  const where = `${path ? path + '.' : ''}${key}`;
  if (value === undefined || value === null) {
    if (required) problems.push(`${where}: required`);
    return undefined;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    problems.push(`${where}: must be a non-empty string`);
    return undefined;
  }
  return value;
}

export function strList(obj: Obj, key: string, path: string, problems: Problems, required: boolean): string[] | undefined {
  const value = obj[key];
  const where = `${path ? path + '.' : ''}${key}`;
  if (value === undefined || value === null) {
    if (required) problems.push(`${where}: required`);
    return undefined;
  }
  if (!Array.isArray(value)) {
    problems.push(`${where}: must be a list`);
    return undefined;
  }
  const out: string[] = [];
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item === '') problems.push(`${where}[${i}]: must be a non-empty string`);
    else out.push(item);
  });
  return out;
}

export function lifetime(obj: Obj, key: string, fallback: string, path: string, problems: Problems): number {
  const raw = obj[key] ?? fallback;
  const where = `${path}.${key}`;
  if (typeof raw !== 'string') {
    problems.push(`${where}: must be a duration such as "5m"`);
    return 0;
  }
  try {
    const ms = parseDuration(raw);
    if (ms < MIN_LIFETIME_MS || ms > MAX_LIFETIME_MS) problems.push(`${where}: must be between 1s and 24h`);
    return ms;
  } catch {
    problems.push(`${where}: must be a duration such as "5m", got "${raw}"`);
    return 0;
  }
}

export function httpsUrl(value: string, where: string, problems: Problems): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${where}: not a URL`);
    return;
  }
  // OIDC requires https; plain http would let anyone on the path swap the keys.
  if (url.protocol !== 'https:') problems.push(`${where}: must be an https URL`);
  if (url.search || url.hash) problems.push(`${where}: must not have a query or fragment`);
}

