// Docker token-protocol scopes (`repository:team/app:pull,push`), parsed strictly with hard limits.
//
// Policy (docs/sts.md): a scope that breaks the grammar, or a request over the limits, is refused
// whole with 400 (ScopeInvalid): guessing what a malformed request meant is how access leaks.
// Well-formed scopes for things this service never grants (`registry:catalog:*`, actions other
// than pull/push) are dropped, as the token spec says of denied actions.
import { RegcredError } from '../errors.ts';
import type { Action } from './config-schema.ts';

/** One resource scope is at most type + 255-character name + actions; anything longer is an attack. */
export const MAX_SCOPE_LENGTH = 512;
/** A docker/skopeo/containerd request carries one to three scopes (pull source, push target, mounts). */
export const MAX_SCOPES = 16;

export interface RequestedScope {
  type: string;
  name: string;
  actions: string[];
}

export interface AccessEntry {
  type: 'repository';
  name: string;
  actions: Action[];
}

// distribution/reference path grammar: lower-case components joined by `/`, separators `.`, `_`, `__`, `-+`.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY_NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const RESOURCE_TYPE = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;
const ACTION = /^(?:[a-z]+|\*)$/;
const MAX_NAME_LENGTH = 255;

function refuse(reason: string): RegcredError {
  return new RegcredError('ScopeInvalid', `invalid scope: ${reason}`, { status: 400 });
}

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && REPOSITORY_NAME.test(name);
}

/** Parses one resource scope; the name sits between the first and the last `:`. */
export function parseScope(raw: string): RequestedScope {
  if (raw.length > MAX_SCOPE_LENGTH) throw refuse(`longer than ${MAX_SCOPE_LENGTH} characters`);
  const first = raw.indexOf(':');
  const last = raw.lastIndexOf(':');
  if (first <= 0 || last === first) throw refuse('expected type:name:actions');
  const type = raw.slice(0, first);
  const name = raw.slice(first + 1, last);
  const actions = raw.slice(last + 1).split(',');
  if (!RESOURCE_TYPE.test(type)) throw refuse('bad resource type');
  if (type === 'repository' && !isRepositoryName(name)) throw refuse('bad repository name');
  if (name === '' || /[\s"\\]/.test(name)) throw refuse('bad resource name');
  if (actions.some((action) => !ACTION.test(action))) throw refuse('bad action');
  return { type, name, actions };
}

/**
 * Parses every `scope` value of a request. Each value may itself hold several scopes separated by
 * spaces (the OAuth2 form, and some clients on GET).
 */
export function parseScopes(values: readonly string[]): RequestedScope[] {
  if (values.length > MAX_SCOPES) throw refuse(`more than ${MAX_SCOPES} scopes`);
  const scopes: RequestedScope[] = [];
  for (const value of values) {
    if (value.length > MAX_SCOPE_LENGTH * MAX_SCOPES) throw refuse('too long');
    for (const part of value.split(' ')) {
      if (part === '') continue;
      if (scopes.length >= MAX_SCOPES) throw refuse(`more than ${MAX_SCOPES} scopes`);
      scopes.push(parseScope(part));
    }
  }
  return scopes;
}

/** The `scope` string of an access list, as the OAuth2 response echoes it. */
export function formatAccess(access: readonly AccessEntry[]): string {
  return access.map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(',')}`).join(' ');
}
