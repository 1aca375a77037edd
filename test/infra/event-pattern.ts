/**
 * EventBridge pattern matching for the subset our rules use, after
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html:
 * - a pattern is an object; every key must match (AND);
 * - a leaf is an array of alternatives (OR): a string/number/boolean/null matches by equality, an
 *   object `{ prefix: "..." }` matches a string starting with it;
 * - a nested object matches a nested event object;
 * - when the event value is an array, the leaf matches if any element matches;
 * - a missing event field never matches.
 * Anything else (anything-but, numeric, exists, wildcard...) throws, so a rule that starts using it
 * fails here instead of being silently misjudged.
 */
export type EventPattern = { readonly [key: string]: EventPattern | readonly unknown[] };

export function matchesEventPattern(pattern: EventPattern, event: unknown): boolean {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
  const record = event as Record<string, unknown>;
  return Object.entries(pattern).every(([key, expected]) => {
    if (!(key in record)) return false;
    const actual = record[key];
    if (Array.isArray(expected)) return matchesLeaf(expected, actual);
    return matchesEventPattern(expected as EventPattern, actual);
  });
}

function matchesLeaf(alternatives: readonly unknown[], actual: unknown): boolean {
  const values = Array.isArray(actual) ? actual : [actual];
  return values.some((value) => alternatives.some((alternative) => matchesValue(alternative, value)));
}

function matchesValue(alternative: unknown, value: unknown): boolean {
  if (alternative === null || ['string', 'number', 'boolean'].includes(typeof alternative)) {
    return alternative === value;
  }
  if (typeof alternative === 'object' && Object.keys(alternative).length === 1 && 'prefix' in alternative) {
    const prefix = (alternative as { prefix: unknown }).prefix;
    if (typeof prefix !== 'string')
      throw new Error(`unsupported prefix matcher ${JSON.stringify(alternative)}`);
    return typeof value === 'string' && value.startsWith(prefix);
  }
  throw new Error(`unsupported event pattern matcher ${JSON.stringify(alternative)}`);
}
