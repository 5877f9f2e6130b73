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
 * digit: an NDJSON line is its own text; an array item is its slice of the body's text
 * (`arrayElementTexts`). The parsed values (JSON.parse) are only checked for their shape.
 *
 * One multi-row INSERT (`insertMany`), through the group commit, which may store concurrent batches
 * and single rows in the same statement: one transaction, so a bad item stores nothing of its
 * batch (the group commit then stores the others' rows without it).
 */
import { AppError, badInput, toAppError } from '../common/errors.js';
import type { PublisherDb } from './db.js';
import { checkDatumObject, firstInvalidJsonb, type StoredRow } from './ingest.js';

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

/**
 * The items of a JSON array body: `value` is its text parsed by JSON.parse (the content-type
 * parser's), which the checks read; each item is stored from its own slice of `text`, so its
 * numbers keep every digit without a second, lossless parse.
 */
export function jsonArrayItems(text: string, value: unknown, maxItems: number): BatchItems {
  if (!Array.isArray(value)) {
    throw badInput(
      'The body must be a JSON array of {"data": <any JSON value>} objects, or NDJSON (one ' +
        'such object per line) with Content-Type: application/x-ndjson.',
    );
  }
  checkCount(value.length, maxItems);
  const texts = arrayElementTexts(text);
  if (texts.length !== value.length) {
    throw new Error(`JSON array: ${value.length} items parsed, ${texts.length} found in the text`);
  }
  const names: string[] = [];
  value.forEach((item, i) => {
    const name = `Item ${i}`;
    checkDatumObject(item, texts[i], name);
    names.push(name);
  });
  return { texts, names };
}

/**
 * The texts of the elements of a JSON array, in order, from the text of a valid JSON array (one
 * JSON.parse accepted). One pass over the characters: strings (with their escapes) are skipped,
 * brackets counted, and a comma outside any nested value ends an element.
 */
export function arrayElementTexts(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  let end = -1;
  for (let i = text.indexOf('[') + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x20: // space, tab, newline, carriage return: between tokens only
      case 0x09:
      case 0x0a:
      case 0x0d:
        continue;
      case 0x22: // a string: skip to its closing quote
        if (start < 0) start = i;
        for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
          if (text.charCodeAt(i) === 0x5c) i++;
        }
        break;
      case 0x5b: // [ {
      case 0x7b:
        if (start < 0) start = i;
        depth++;
        break;
      case 0x5d: // ] }
      case 0x7d:
        if (depth === 0) {
          if (start >= 0) out.push(text.slice(start, end + 1));
          return out;
        }
        depth--;
        break;
      case 0x2c: // ,
        if (depth === 0) {
          out.push(text.slice(start, end + 1));
          start = -1;
          continue;
        }
        break;
      default:
        if (start < 0) start = i;
    }
    end = i;
  }
  return out;
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
      // The line itself is stored: JSON.parse's rounded numbers only meet the shape checks.
      item = JSON.parse(line);
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
export async function storeBatch(
  db: PublisherDb,
  items: BatchItems,
  /** Where the statement runs: POST /data's group commit (publisher-api/group-commit.ts). */
  groupCommit: { insertBatch(bodies: readonly string[]): Promise<StoredRow[]> },
): Promise<StoredRow[]> {
  try {
    return await groupCommit.insertBatch(items.texts);
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

/**
 * The 201 response: ids, publisher and time of each stored item, in input order. The rows of one
 * statement share their publisher and their time (created_at is now(), the transaction's start):
 * each is written out once, not once per row. A uuid has nothing to escape.
 */
export function batchJson(rows: readonly StoredRow[]): string {
  let lastMs = Number.NaN;
  let time = '';
  let lastPublisher: string | undefined;
  let publisher = '';
  const items = rows.map((d) => {
    const ms = d.createdAt.getTime();
    if (ms !== lastMs) {
      lastMs = ms;
      time = d.createdAt.toISOString();
    }
    if (d.publisher !== lastPublisher) {
      lastPublisher = d.publisher;
      publisher = JSON.stringify(d.publisher);
    }
    return `{"id":"${d.id}","publisher":${publisher},"createdAt":"${time}"}`;
  });
  return `{"items":[${items.join(',')}]}`;
}
