import { badInput } from './errors.js';

/**
 * Deepest nesting of arrays and objects accepted in stored JSON. PostgreSQL parses much deeper
 * documents, but JSON.stringify (Apollo's response serializer) overflows the stack at about 4,000
 * levels: one such row would break every GraphQL page that contains it, for good, since data is
 * insert-only. 512 levels is far beyond real documents.
 */
export const MAX_JSON_DEPTH = 512;

/** Throws BAD_USER_INPUT if `value` nests deeper than `MAX_JSON_DEPTH`. Iterative: no recursion. */
export function checkJsonDepth(value: unknown, what: string): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH) {
      throw badInput(`${what} nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`);
    }
    for (const child of Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}
