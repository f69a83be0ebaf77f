// One mechanism for every subcommand's flags: each option is declared once with its flag, environment
// variable, default and description; the same table parses argv + env, validates, and renders --help.
// Pure: argv and env are passed in by main.

export type OptionType = 'string' | 'integer' | 'boolean' | 'duration' | 'list' | 'fraction';

export interface OptionSpec {
  type: OptionType;
  /** Shown in --help; says why one would change it. */
  description: string;
  /** Raw default as a user would type it; absent means "unset" (undefined) unless `required`. */
  default?: string;
  required?: boolean;
  /** For `string`: the accepted values. */
  choices?: readonly string[];
}

export type OptionTable = Record<string, OptionSpec>;

type ValueOf<T extends OptionType> = T extends 'string'
  ? string
  : T extends 'integer' | 'fraction'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'duration'
        ? number
        : string[];

/** Parsed options: durations in milliseconds, lists as arrays; unset optional options are undefined. */
export type Options<S extends OptionTable> = {
  [K in keyof S]: S[K] extends { default: string } | { required: true }
    ? ValueOf<S[K]['type']>
    : ValueOf<S[K]['type']> | undefined;
};

export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

/** `serviceAccountName` → `--service-account-name`. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `serviceAccountName` with prefix `KUBE_REGCRED_` → `KUBE_REGCRED_SERVICE_ACCOUNT_NAME`. */
export function envName(key: string, prefix: string): string {
  return prefix + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `90s`, `10m`, `1h` (also combined: `1h30m`) into milliseconds. */
export function parseDuration(raw: string): number {
  const parts = raw.trim().match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g);
  if (!parts || parts.join('') !== raw.trim()) throw new OptionsError(`not a duration: "${raw}" (use e.g. 90s, 10m, 1h)`);
  return parts.reduce((sum, part) => {
    const [, value, unit] = DURATION.exec(part)!;
    return sum + Number(value) * UNIT_MS[unit!]!;
  }, 0);
}

function convert(key: string, spec: OptionSpec, raw: string, prefix: string): unknown {
  const where = `${flagName(key)} (${envName(key, prefix)})`;
  try {
    switch (spec.type) {
      case 'string':
        if (spec.choices && !spec.choices.includes(raw)) {
          throw new OptionsError(`must be one of ${spec.choices.join(', ')}, got "${raw}"`);
        }
        return raw;
      case 'integer': {
        if (!/^-?\d+$/.test(raw.trim())) throw new OptionsError(`not an integer: "${raw}"`);
        return Number(raw);
      }
      case 'fraction': {
        const value = Number(raw);
        if (raw.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
          throw new OptionsError(`not a fraction between 0 and 1: "${raw}"`);
        }
        return value;
      }
      case 'boolean':
        if (['true', '1', 'yes', ''].includes(raw)) return true;
        if (['false', '0', 'no'].includes(raw)) return false;
        throw new OptionsError(`not a boolean: "${raw}"`);
      case 'duration':
        return parseDuration(raw);
      case 'list':
        return raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
    }
  } catch (err) {
    throw new OptionsError(`${where}: ${(err as Error).message}`);
  }
}

export interface ParseInput {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** Environment variable prefix, e.g. `KUBE_REGCRED_`. */
  envPrefix: string;
}

/**
 * Flags win over environment variables, which win over defaults. Accepts `--flag value`,
 * `--flag=value` and, for booleans, a bare `--flag` or `--no-flag`.
 */
export function parseOptions<S extends OptionTable>(table: S, input: ParseInput): Options<S> {
  const byFlag = new Map(Object.keys(table).map((key) => [flagName(key), key]));
  const fromArgv = new Map<string, string>();
  const argv = [...input.argv];
  while (argv.length > 0) {
    const arg = argv.shift()!;
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    let key = byFlag.get(flag);
    let raw: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (key === undefined && flag.startsWith('--no-')) {
      const positive = byFlag.get('--' + flag.slice(5));
      if (positive !== undefined && table[positive]!.type === 'boolean' && raw === undefined) {
        key = positive;
        raw = 'false';
      }
    }
    if (key === undefined) throw new OptionsError(`unknown flag: ${flag} (see --help)`);
    if (raw === undefined) {
      if (table[key]!.type === 'boolean') raw = 'true';
      else if (argv.length === 0) throw new OptionsError(`${flag} needs a value`);
      else raw = argv.shift()!;
    }
    fromArgv.set(key, raw);
  }

  const result: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const raw = fromArgv.get(key) ?? input.env[envName(key, input.envPrefix)] ?? spec.default;
    if (raw === undefined) {
      if (spec.required) {
        throw new OptionsError(`${flagName(key)} (${envName(key, input.envPrefix)}) is required`);
      }
      result[key] = undefined;
      continue;
    }
    result[key] = convert(key, spec, raw, input.envPrefix);
  }
  return result as Options<S>;
}

/** The --help text: usage line, then one entry per option with its env var and default. */
export function renderHelp(usage: string, table: OptionTable, envPrefix: string): string {
  const lines = [`Usage: ${usage}`, '', 'Options (flag, environment variable, default):'];
  for (const [key, spec] of Object.entries(table)) {
    const meta = [envName(key, envPrefix)];
    if (spec.default !== undefined) meta.push(`default ${JSON.stringify(spec.default)}`);
    if (spec.required) meta.push('required');
    if (spec.choices) meta.push(`one of ${spec.choices.join('|')}`);
    lines.push(`  ${flagName(key)} <${spec.type}>`, `      ${spec.description}`, `      [${meta.join('; ')}]`);
  }
  lines.push('  --help', '      Show this help and exit.');
  return lines.join('\n') + '\n';
}
