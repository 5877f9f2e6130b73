/**
 * The strict JSON request body reader: raw bytes in, the body's text and parsed value out. Kept
 * apart from any route so that every HTTP server of the collector reads bodies the same way.
 *
 * JSON exchanged between systems is UTF-8 (RFC 8259, section 8.1). A body that declares another
 * charset, or holds bytes that are not UTF-8, is refused: decoding it anyway, as Node does by
 * default, silently stores U+FFFD in place of the client's characters, and data is insert-only.
 */
import { AppError, badInput } from './errors.js';

/** A JSON body as text (what gets stored, so numbers keep all their digits) and parsed. */
export interface JsonBody {
  text: string;
  value: unknown;
}

export interface ReadJsonOptions {
  /** What an empty body should have held, e.g. `send {"data": <any JSON value>}`. */
  emptyHint?: string;
  /** The JSON parser (default JSON.parse); the gateway keeps exact numbers with `parseJson`. */
  parse?: (text: string) => unknown;
}

/**
 * The charset parameter of a Content-Type header, lowercased and unquoted, or undefined when
 * there is none (which, for JSON, means UTF-8).
 */
export function contentTypeCharset(contentType: string | undefined): string | undefined {
  // The usual header, "application/json", has no parameters: nothing to split.
  if (!contentType?.includes(';')) return undefined;
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
  }
  return undefined;
}

/** Throws UNSUPPORTED_MEDIA_TYPE unless the declared charset is UTF-8 (or none is declared). */
export function checkUtf8Charset(contentType: string | undefined): void {
  const charset = contentTypeCharset(contentType);
  if (charset === undefined || charset === 'utf-8') return;
  throw new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    `The body's charset is "${charset}", but JSON bodies must be UTF-8: encode the body as ` +
      'UTF-8 and send "Content-Type: application/json" (or "application/json; charset=utf-8").',
  );
}

// fatal: invalid bytes throw instead of becoming U+FFFD. A leading byte order mark is dropped.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text; BAD_USER_INPUT if its bytes are not valid UTF-8. */
export function decodeUtf8(raw: Uint8Array): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw badInput(
      'The body is not valid UTF-8 (it holds bytes that are not UTF-8, e.g. Latin-1 text): ' +
        'send JSON encoded as UTF-8.',
    );
  }
}

/**
 * Reads a JSON body: declared charset, then UTF-8 validity, then JSON syntax. Throws an
 * `AppError` (415 or 400) with a message saying what to send instead.
 */
export function readJsonBody(
  raw: Uint8Array,
  contentType: string | undefined,
  opts: ReadJsonOptions = {},
): JsonBody {
  checkUtf8Charset(contentType);
  const text = decodeUtf8(raw);
  try {
    return { text, value: (opts.parse ?? JSON.parse)(text) };
  } catch (e) {
    // Only now: a body that parsed is not empty.
    if (text.trim() === '') {
      throw badInput(`The body is empty${opts.emptyHint ? `: ${opts.emptyHint}` : ''}`);
    }
    throw badInput(`Malformed JSON: ${(e as Error).message}`);
  }
}
