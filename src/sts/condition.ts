// CEL conditions over a token's claims: compiled and type-checked at config load, evaluated per
// request. Anything but a literal `true` denies, evaluation errors included (a missing claim).
import { Environment } from '@marcbachmann/cel-js';

export type ClaimsCondition = (claims: Record<string, unknown>) => boolean;

/** Generous for policies, small enough that a pathological expression cannot stall a request. */
const LIMITS = { maxAstNodes: 2_000, maxDepth: 32, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 32 };
const MAX_EXPRESSION_LENGTH = 4_096;

/**
 * The only variable is `claims`, the verified JWT payload as a map, so a typo in a variable name is
 * a load-time error rather than a silent deny.
 * Throws a plain Error with CEL's message (the caller adds the field path).
 */
export function compileCondition(expression: string): ClaimsCondition {
  if (expression.length > MAX_EXPRESSION_LENGTH) throw new Error(`must be at most ${MAX_EXPRESSION_LENGTH} characters`);
  const env = new Environment({ unlistedVariablesAreDyn: false, limits: LIMITS }).registerVariable('claims', 'map');
  const program = env.parse(expression);
  const checked = program.check();
  if (!checked.valid) throw new Error(firstLine(checked.error?.message ?? 'does not type-check'));
  if (checked.type !== 'bool' && checked.type !== 'dyn') throw new Error(`must evaluate to bool, not ${checked.type}`);
  return (claims) => {
    try {
      return program({ claims }) === true;
    } catch {
      return false;
    }
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** compileCondition's error text without the multi-line source excerpt CEL appends. */
export function conditionErrorMessage(err: unknown): string {
  return firstLine(err instanceof Error ? err.message : String(err));
}
