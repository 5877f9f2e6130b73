import { badInput } from './errors.js';

/**
 * Deepest nesting of arrays and objects accepted in stored JSON. PostgreSQL parses much deeper
 * documents, but JSON.stringify (Apollo's response serializer) overflows the stack at about 4,000
 * levels: one such row would break every GraphQL page that contains it, for good, since data is
 * insert-only. 512 levels is far beyond real documents.
 */
export const MAX_JSON_DEPTH = 512;

/** Throws BAD_USER_INPUT if `value` nests deeper than `max` levels. Iterative: no recursion. */
export function checkJsonDepth(value: unknown, what: string, max = MAX_JSON_DEPTH): void {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth >= max) {
      throw badInput(`${what} nests deeper than ${max} levels of arrays and objects`);
    }
    for (const child of Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
}

/**
 * Most bytes the numbers of one JSON value may take once PostgreSQL writes them out. jsonb keeps a
 * number as a numeric, compactly (1e131071 is a few bytes), but `::text` writes every digit: 1e131071
 * becomes 131,072 characters. A 38 KB body of such numbers would read back as 550 million
 * characters, past V8's largest string, and crash whichever process reads it; 4 MiB is far beyond
 * what real numbers need.
 */
export const MAX_NUMBER_TEXT_BYTES = 4 * 1024 * 1024;

/**
 * Only numbers whose magnitude is at least 1e19, or below 1e-19 (zero included when written with
 * 20 or more decimals, like 0e-30), count towards `MAX_NUMBER_TEXT_BYTES`: any other number is
 * written out in at most about 20 characters more than it was sent with. The same rule lives in
 * SQL as `collector_json_servable` (sql/publisher/006_json_text_guard.sql).
 */
const BIG_DIGITS = 20;

export interface NumberTextSize {
  /** Bytes PostgreSQL's text output takes for the numbers that count (see `BIG_DIGITS`). */
  bytes: number;
  /** The number, as sent, that takes the most of them (cut to 40 characters), if any counts. */
  largest?: string;
  largestBytes: number;
}

// Exponents beyond this overflow numeric anyway; capping keeps the arithmetic exact.
const EXPONENT_CAP = 1e9;

/**
 * How many bytes the numbers of the JSON text `json` take once PostgreSQL writes them out in full:
 * numeric output has no exponent (1e5 is 100000, 1e-5 is 0.00001, 1.5e3 is 1500) and keeps the
 * scale the number was written with (1.50 stays 1.50; 0e-30 is 0. and 30 zeros). One pass over
 * the text, no recursion, no allocation per number; strings are skipped, so digits inside them
 * never count. Meant for text that `JSON.parse` accepted; on other text it still ends, linearly.
 */
export function numberTextSize(json: string): NumberTextSize {
  const n = json.length;
  let bytes = 0;
  let largestBytes = 0;
  let largestAt = -1;
  let largestEnd = -1;
  let i = 0;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Skip the string: to the next quote preceded by an even number of backslashes. indexOf
      // is several times faster than a loop over the characters; each run of backslashes is
      // counted once, before the one quote that follows it, so this stays linear.
      let close = json.indexOf('"', i + 1);
      while (close > 0) {
        let k = close - 1;
        while (json.charCodeAt(k) === 0x5c /* \ */) k--;
        if ((close - 1 - k) % 2 === 0) break;
        close = json.indexOf('"', close + 1);
      }
      i = close < 0 ? n : close + 1;
      continue;
    }
    if (c !== 0x2d /* - */ && (c < 0x30 || c > 0x39)) {
      i++;
      continue;
    }
    // A number: -?digits(.digits)?([eE][+-]?digits)?
    const start = i;
    const negative = c === 0x2d;
    if (negative) i++;
    // Digits before and after the point, and the index (in both together) of the first non-zero.
    let intDigits = 0;
    let fracDigits = 0;
    let firstNonZero = -1;
    while (i < n) {
      const d = json.charCodeAt(i);
      if (d < 0x30 || d > 0x39) break;
      if (firstNonZero < 0 && d !== 0x30) firstNonZero = intDigits;
      intDigits++;
      i++;
    }
    if (i < n && json.charCodeAt(i) === 0x2e /* . */) {
      i++;
      while (i < n) {
        const d = json.charCodeAt(i);
        if (d < 0x30 || d > 0x39) break;
        if (firstNonZero < 0 && d !== 0x30) firstNonZero = intDigits + fracDigits;
        fracDigits++;
        i++;
      }
    }
    let exponent = 0;
    if (i < n && (json.charCodeAt(i) | 0x20) === 0x65 /* e or E */) {
      i++;
      let sign = 1;
      const s = i < n ? json.charCodeAt(i) : 0;
      if (s === 0x2b /* + */ || s === 0x2d) {
        if (s === 0x2d) sign = -1;
        i++;
      }
      while (i < n) {
        const d = json.charCodeAt(i);
        if (d < 0x30 || d > 0x39) break;
        if (exponent < EXPONENT_CAP) exponent = exponent * 10 + (d - 0x30);
        i++;
      }
      exponent *= sign;
    }
    if (intDigits === 0) continue; // a "-" without digits: not JSON, and not a number
    // PostgreSQL's numeric keeps as many decimals as were written, less the exponent.
    const scale = Math.max(0, fracDigits - exponent);
    let written = 0;
    if (firstNonZero < 0) {
      // Zero, never signed: "0", then "." and the decimals if any.
      if (scale >= BIG_DIGITS) written = 2 + scale;
    } else {
      // The power of ten of the leading digit: the value is in [10^lead, 10^(lead + 1)).
      const lead = intDigits - 1 - firstNonZero + exponent;
      const sign = negative ? 1 : 0;
      if (lead >= BIG_DIGITS - 1) written = sign + lead + 1 + (scale > 0 ? 1 + scale : 0);
      else if (lead <= -BIG_DIGITS) written = sign + 2 + scale;
    }
    if (written > 0) {
      bytes += written;
      if (written > largestBytes) {
        largestBytes = written;
        largestAt = start;
        largestEnd = i;
      }
    }
  }
  const result: NumberTextSize = { bytes, largestBytes };
  if (largestAt >= 0) {
    const text = json.slice(largestAt, Math.min(largestEnd, largestAt + 40));
    result.largest = largestEnd - largestAt > 40 ? `${text}…` : text;
  }
  return result;
}

const bytesText = (n: number) => n.toLocaleString('en-US');

/**
 * Throws BAD_USER_INPUT if the numbers of the JSON text `json` would take more than
 * `MAX_NUMBER_TEXT_BYTES` once written out by PostgreSQL. Runs on every insert: one linear pass.
 */
export function checkNumberText(json: string, what: string): void {
  const size = numberTextSize(json);
  if (size.bytes <= MAX_NUMBER_TEXT_BYTES) return;
  throw badInput(
    `${what} holds numbers that PostgreSQL writes out in full, without an exponent (1e131071 ` +
      `becomes 131,072 digits): the numbers in this value would take ${bytesText(size.bytes)} ` +
      `bytes, over the limit of 4 MiB (${bytesText(MAX_NUMBER_TEXT_BYTES)} bytes). The largest ` +
      `is ${size.largest} (${bytesText(size.largestBytes)} bytes). Send such numbers as strings.`,
  );
}
