/**
 * POST /data/batch: many `{"data": …}` objects in one request, stored all or nothing.
 *
 * Two body formats:
 * - `application/json`: a JSON array of `{"data": …}` objects. Items are named by their index,
 *   from 0 ("Item 3").
 * - `application/x-ndjson`: one `{"data": …}` per line. Lines are named by their number, from 1
 *   ("Line 4"). Blank lines (a trailing newline, say) are skipped; they still count in the line
 *   numbers, so a message points at the line an editor shows.
 *
 * Each item is stored from its own JSON text, so numbers beyond double precision keep every
 * digit: an NDJSON line is its own text; an array item is written back out with `stringifyJson`
 * after `parseJson`, which keeps such numbers as their text.
 *
 * One multi-row INSERT (`insertMany`): one transaction, so a bad item stores nothing at all.
 */
import { AppError, badInput, toAppError } from '../common/errors.js';
import { checkNumberText } from '../common/json.js';
import { parseJson, stringifyJson } from '../common/raw-json.js';
import type { PublisherDb } from './db.js';
import { checkDatumObject, firstInvalidJsonb, insertMany, type StoredDatum } from './ingest.js';

/** Default of COLLECTOR_MAX_BATCH_ITEMS: small transactions keep replication flowing. */
export const DEFAULT_MAX_BATCH_ITEMS = 1000;

/** A batch's items as the texts to store, with how to name each in an error. */
export interface BatchItems {
  texts: string[];
  /** "Item 0" or "Line 1", by position in `texts`. */
  names: string[];
}

/** An NDJSON body as the content-type parser hands it over (decoded, UTF-8 checked). */
export interface NdjsonBody {
  ndjson: string;
}

function checkCount(count: number, maxItems: number): void {
  if (count === 0) {
    throw badInput(
      'The batch is empty: send at least one {"data": <any JSON value>} item ' +
        '(a JSON array, or one per line with Content-Type: application/x-ndjson).',
    );
  }
  if (count > maxItems) {
    throw new AppError(
      'PAYLOAD_TOO_LARGE',
      `The batch has ${count} items, more than the limit of ${maxItems} per request ` +
        '(COLLECTOR_MAX_BATCH_ITEMS): split it into several requests.',
    );
  }
}

/** The items of a JSON array body (its text; it has already been parsed once as JSON). */
export function jsonArrayItems(text: string, maxItems: number): BatchItems {
  // Parsed again, keeping numbers JavaScript would round as their text.
  const value = parseJson(text);
  if (!Array.isArray(value)) {
    throw badInput(
      'The body must be a JSON array of {"data": <any JSON value>} objects, or NDJSON (one ' +
        'such object per line) with Content-Type: application/x-ndjson.',
    );
  }
  checkCount(value.length, maxItems);
  const texts: string[] = [];
  const names: string[] = [];
  value.forEach((item, i) => {
    const name = `Item ${i}`;
    // Shape and depth first: written out only once it is known not to nest too deep.
    checkDatumObject(item, undefined, name);
    const itemText = stringifyJson(item);
    checkNumberText(itemText, `${name}: "data"`);
    texts.push(itemText);
    names.push(name);
  });
  return { texts, names };
}

/** The items of an NDJSON body. */
export function ndjsonItems(body: string, maxItems: number): BatchItems {
  const lines = body.split('\n');
  const filled = lines.filter((l) => l.trim() !== '').length;
  checkCount(filled, maxItems);
  const texts: string[] = [];
  const names: string[] = [];
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const name = `Line ${i + 1}`;
    let item: unknown;
    try {
      item = parseJson(line);
    } catch (e) {
      throw badInput(`${name}: Malformed JSON: ${(e as Error).message}`);
    }
    checkDatumObject(item, line, name);
    texts.push(line);
    names.push(name);
  });
  return { texts, names };
}

/**
 * Stores every item, or none. When jsonb refuses an item (a string with \u0000), the error names
 * it: the failed statement stored nothing, and PostgreSQL then says which text it refuses.
 */
export async function storeBatch(db: PublisherDb, items: BatchItems): Promise<StoredDatum[]> {
  try {
    return await insertMany(db, items.texts);
  } catch (e) {
    if (toAppError(e)?.code === 'BAD_USER_INPUT') {
      const bad = await firstInvalidJsonb(db, items.texts).catch(() => undefined);
      if (bad) {
        throw badInput(
          `${items.names[bad.index]}: Invalid value: ${bad.message}. Nothing was stored.`,
        );
      }
      const mapped = toAppError(e) as AppError;
      throw badInput(`${mapped.message}. Nothing was stored.`);
    }
    throw e;
  }
}

/** The 201 response: ids, publisher and time of each stored item, in input order. */
export function batchJson(rows: readonly StoredDatum[]): string {
  const items = rows.map(
    (d) =>
      `{"id":${JSON.stringify(d.id)},"publisher":${JSON.stringify(d.publisher)},` +
      `"createdAt":${JSON.stringify(d.createdAt.toISOString())}}`,
  );
  return `{"items":[${items.join(',')}]}`;
}
