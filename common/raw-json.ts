/**
 * JSON whose numbers survive exactly. JavaScript numbers are doubles: 12345678901234567890 becomes
 * 12345678901234567000, and 1e400 becomes Infinity (serialised as null). PostgreSQL's jsonb keeps
 * every digit, so the gateway must not round-trip stored JSON, or JSON it is about to store,
 * through JavaScript numbers.
 *
 * - `RawJson` holds JSON text that is written into a response as it is, without parsing.
 * - `parseJson` parses like JSON.parse, except that a number whose text JavaScript would not
 *   reproduce becomes a `RawJson` holding that text.
 * - `stringifyJson` serialises like JSON.stringify, splicing each `RawJson` in unchanged.
 */
import { randomBytes } from 'node:crypto';
import { parse as losslessParse } from 'lossless-json';

// JSON.stringify writes NUL as \u0000, which no JSON text we splice can start with inside a string
// of this exact form; the random part makes it unguessable for anyone crafting strings.
const NONCE = randomBytes(8).toString('hex');
const MARK = `\u0000${NONCE}:`;
const MARK_RE = new RegExp(`"\\\\u0000${NONCE}:(\\d+)"`, 'g');

/** The texts spliced by the `stringifyJson` call running right now (it is synchronous). */
let slots: string[] | null = null;

export class RawJson {
  constructor(readonly text: string) {}

  /** Inside `stringifyJson`: a placeholder to be replaced by the text. Elsewhere: parsed. */
  toJSON(): unknown {
    if (slots === null) return JSON.parse(this.text);
    slots.push(this.text);
    return `${MARK}${slots.length - 1}`;
  }
}

/** JSON.stringify, with every `RawJson` written as its own text. */
export function stringifyJson(value: unknown): string {
  const outer = slots;
  const mine: string[] = [];
  slots = mine;
  try {
    const text = JSON.stringify(value);
    if (mine.length === 0 || text === undefined) return text;
    return text.replace(MARK_RE, (_m, i: string) => mine[Number(i)] as string);
  } finally {
    slots = outer;
  }
}

/** How many numbers `jsonNumber` has kept as text so far (see subscriber-graphql/jit.ts). */
export let inexactNumbers = 0;

/** A number is kept as a JavaScript number only when that number prints back as the same text. */
export function jsonNumber(text: string): number | RawJson {
  const n = Number(text);
  if (String(n) === text) return n;
  inexactNumbers++;
  return new RawJson(text);
}

// Without a fraction, an exponent or 16 digits in a row, every number in the text is an integer
// below 2^53 written plainly, and JSON.parse keeps it exactly: the fast path for nearly every body.
const MAY_LOSE_DIGITS = /[0-9][.eE]|[0-9]{16}|-0/;

/** JSON.parse, except that numbers JavaScript cannot hold exactly become `RawJson`. */
export function parseJson(text: string): unknown {
  if (!MAY_LOSE_DIGITS.test(text)) return JSON.parse(text);
  return losslessParse(text, null, jsonNumber);
}
