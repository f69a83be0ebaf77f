// The pass-through flags of the controller, parsed and checked (pure).
import { OptionsError } from '../config.ts';
import { parseRegistryHost } from '../annotations.ts';
import { DEFAULT_PASSTHROUGH_USERNAME, isValidAudience, type PassthroughRegistry } from '../passthrough-target.ts';

/** A host[:port] flag value, lower-cased; OptionsError naming the flag otherwise. */
export function registryHost(flag: string, raw: string): string {
  try {
    return parseRegistryHost(raw);
  } catch {
    throw new OptionsError(`${flag}: "${raw}" is not host[:port]`);
  }
}

function pairs(flag: string, entries: readonly string[]): Array<[string, string]> {
  return entries.map((entry) => {
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1) throw new OptionsError(`${flag}: expected host[:port]=value, got "${entry}"`);
    return [registryHost(flag, entry.slice(0, eq)), entry.slice(eq + 1)];
  });
}

/** --passthrough-registries host=audience and --passthrough-usernames host=username, validated. */
export function parsePassthroughRegistries(registries: readonly string[], usernames: readonly string[]): Record<string, PassthroughRegistry> {
  const out: Record<string, PassthroughRegistry> = {};
  for (const [host, audience] of pairs('--passthrough-registries', registries)) {
    if (!isValidAudience(audience)) throw new OptionsError(`--passthrough-registries: audience "${audience}" is not 1-253 characters of A-Z a-z 0-9 . _ : / -`);
    out[host] = { audience, username: DEFAULT_PASSTHROUGH_USERNAME };
  }
  for (const [host, username] of pairs('--passthrough-usernames', usernames)) {
    if (!out[host]) throw new OptionsError(`--passthrough-usernames: ${host} is not in --passthrough-registries`);
    // A `:` would end the username inside `auth` (base64 of user:password).
    if (username.includes(':') || /[\s\u0000-\u001f]/.test(username)) throw new OptionsError(`--passthrough-usernames: "${username}" may not contain ':' or whitespace`);
    out[host] = { ...out[host], username };
  }
  return out;
}

