// Kubernetes label selectors (metav1.LabelSelector: matchLabels + matchExpressions), validated once and
// evaluated purely, with the semantics the apiserver gives them (k8s.io/apimachinery labels.Selector).
import { isPlainObject } from '../plain-object.ts';

export type SelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface LabelSelectorRequirement {
  key: string;
  operator: SelectorOperator;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

const OPERATORS = new Set<string>(['In', 'NotIn', 'Exists', 'DoesNotExist']);


/**
 * Validates a selector as read from YAML; problems are pushed with their field path. The rules are the
 * apiserver's: In/NotIn need at least one value, Exists/DoesNotExist take none, values are strings.
 */
export function validateLabelSelector(raw: unknown, path: string, problems: string[]): LabelSelector | undefined {
  if (!isPlainObject(raw)) {
    problems.push(`${path}: must be a mapping with matchLabels and/or matchExpressions`);
    return undefined;
  }
  for (const key of Object.keys(raw)) {
    if (key !== 'matchLabels' && key !== 'matchExpressions') problems.push(`${path}.${key}: unknown field`);
  }
  const selector: LabelSelector = {};
  if (raw.matchLabels !== undefined) {
    if (!isPlainObject(raw.matchLabels)) {
      problems.push(`${path}.matchLabels: must be a mapping of label to value`);
    } else {
      const labels: Record<string, string> = {};
      for (const [key, value] of Object.entries(raw.matchLabels)) {
        if (typeof value !== 'string') problems.push(`${path}.matchLabels.${key}: must be a string (quote numbers and booleans)`);
        else labels[key] = value;
      }
      selector.matchLabels = labels;
    }
  }
  if (raw.matchExpressions !== undefined) {
    if (!Array.isArray(raw.matchExpressions)) {
      problems.push(`${path}.matchExpressions: must be a list`);
    } else {
      selector.matchExpressions = [];
      raw.matchExpressions.forEach((item: unknown, i: number) => {
        const at = `${path}.matchExpressions[${i}]`;
        if (!isPlainObject(item)) return void problems.push(`${at}: must be a mapping with key, operator, values`);
        const { key, operator, values } = item;
        if (typeof key !== 'string' || key === '') return void problems.push(`${at}.key: required, a string`);
        if (typeof operator !== 'string' || !OPERATORS.has(operator)) {
          return void problems.push(`${at}.operator: must be one of In, NotIn, Exists, DoesNotExist`);
        }
        const list = values === undefined ? [] : values;
        if (!Array.isArray(list) || !list.every((v) => typeof v === 'string')) {
          return void problems.push(`${at}.values: must be a list of strings`);
        }
        if ((operator === 'In' || operator === 'NotIn') && list.length === 0) {
          return void problems.push(`${at}.values: ${operator} needs at least one value`);
        }
        if ((operator === 'Exists' || operator === 'DoesNotExist') && list.length > 0) {
          return void problems.push(`${at}.values: ${operator} takes no values`);
        }
        selector.matchExpressions!.push({ key, operator: operator as SelectorOperator, values: list as string[] });
      });
    }
  }
  return selector;
}

/**
 * True when `labels` satisfy every matchLabels pair and every expression (an empty selector matches
 * everything, as in Kubernetes). NotIn and DoesNotExist match a missing label.
 */
export function matchesLabelSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(labels, key) || labels[key] !== value) return false;
  }
  for (const requirement of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, requirement.key);
    const values = requirement.values ?? [];
    switch (requirement.operator) {
      case 'In':
        if (!has || !values.includes(labels[requirement.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[requirement.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
