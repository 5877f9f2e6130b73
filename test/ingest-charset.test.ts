/**
 * Bodies are UTF-8: a declared charset other than UTF-8 gets 415 and bytes that are not UTF-8
 * get 400, instead of being stored with U+FFFD in place of the client's characters. The strict
 * reader (common/body.ts) is tested alone, then through the publisher over HTTP.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { contentTypeCharset, readJsonBody } from '../common/body.js';
import { AppError } from '../common/errors.js';
import { collector, http, uniqueTag, withClient } from './helpers.js';

const pub = () => collector().publishers[0] as { url: string; adminUrl: string };

/** Rows on the publisher whose JSON text contains `marker`. */
async function rowsContaining(marker: string): Promise<number> {
  return withClient(pub().adminUrl, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      'SELECT count(*) AS n FROM data WHERE data::text LIKE $1',
      [`%${marker}%`],
    );
    return Number(rows[0]?.n);
  });
}

const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

function thrown(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected an AppError');
}

describe('readJsonBody (common/body.ts)', () => {
  it.each([
    [undefined, undefined],
    ['application/json', undefined],
    ['application/json; charset=utf-8', 'utf-8'],
    ['application/json;charset=UTF-8', 'utf-8'],
    ['application/json; charset="Latin1"', 'latin1'],
    ['application/json; foo=bar; Charset=ISO-8859-1', 'iso-8859-1'],
  ])('reads the charset of %s as %s', (header, charset) => {
    expect(contentTypeCharset(header)).toBe(charset);
  });

  it('returns the text and the parsed value, without a byte order mark', () => {
    const raw = bytes([0xef, 0xbb, 0xbf], '{"data": "café"}');
    expect(readJsonBody(raw, 'application/json; charset=utf-8')).toEqual({
      text: '{"data": "café"}',
      value: { data: 'café' },
    });
  });

  it('refuses another charset with UNSUPPORTED_MEDIA_TYPE, before looking at the bytes', () => {
    const e = thrown(() => readJsonBody(bytes([0xff]), 'application/json; charset=latin1'));
    expect(e.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(e.message).toMatch(/"latin1".*must be UTF-8/);
  });

  it('refuses bytes that are not UTF-8 with BAD_USER_INPUT', () => {
    const e = thrown(() => readJsonBody(bytes('{"data": "caf', [0xe9], '"}'), undefined));
    expect(e.code).toBe('BAD_USER_INPUT');
    expect(e.message).toMatch(/not valid UTF-8/);
  });

  it('keeps its messages for empty and malformed bodies', () => {
    expect(thrown(() => readJsonBody(bytes(' '), undefined, { emptyHint: 'send X' })).message).toBe(
      'The body is empty: send X',
    );
    expect(thrown(() => readJsonBody(bytes('{'), undefined)).message).toMatch(/^Malformed JSON/);
  });
});

describe('POST /data and charsets', () => {
  const post = (contentType: string, body: Buffer) =>
    http<{ id: string; data: unknown; error: { code: string; message: string } }>(
      `${pub().url}/data`,
      { method: 'POST', headers: { 'content-type': contentType }, body },
    );

  it.each([
    ['charset=latin1 with Latin-1 bytes', 'application/json; charset=latin1', [0xe9]],
    ['charset=ISO-8859-1, even for ASCII', 'application/json; charset=ISO-8859-1', []],
    ['charset=utf-16', 'application/json; charset=utf-16', []],
    ['charset=utf8 (not the name utf-8)', 'application/json; charset=utf8', []],
  ])('refuses %s with 415, storing nothing', async (_what, contentType, extra) => {
    const marker = uniqueTag('charset');
    const res = await post(contentType, bytes(`{"data": {"m": "${marker}`, extra, '"}}'));
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(res.body.error.message).toMatch(/must be UTF-8/);
    expect(await rowsContaining(marker)).toBe(0);
  });

  it.each([
    ['a Latin-1 é', [0xe9]],
    ['0xff', [0xff]],
    ['an overlong slash', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['a lone continuation byte', [0x80]],
  ])('refuses %s with 400, storing nothing', async (_what, bad) => {
    const marker = uniqueTag('utf8');
    const res = await post('application/json', bytes(`{"data": {"m": "${marker}`, bad, '"}}'));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_USER_INPUT');
    expect(res.body.error.message).toMatch(/not valid UTF-8/);
    expect(await rowsContaining(marker)).toBe(0);
  });

  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=UTF-8',
    'application/json;charset="utf-8"',
  ])('stores UTF-8 exactly with Content-Type %s', async (contentType) => {
    const text = `café ☕ 𝄞 ${uniqueTag()}`;
    const res = await post(contentType, bytes(JSON.stringify({ data: { text } })));
    expect(res.status).toBe(201);
    expect(res.body.data).toEqual({ text });
    await withClient(pub().adminUrl, async (c) => {
      const { rows } = await c.query("SELECT data->>'text' AS t FROM data WHERE id = $1", [
        res.body.id,
      ]);
      expect(rows[0]?.t).toBe(text);
    });
  });

  it('accepts a leading byte order mark', async () => {
    const res = await post('application/json', bytes([0xef, 0xbb, 0xbf], '{"data": 1}'));
    expect(res.status).toBe(201);
  });

  it('still takes the original curl command', async () => {
    const marker = uniqueTag('curl');
    const { stdout } = await promisify(execFile)('curl', [
      '-s',
      '-H',
      'Content-Type: application/json',
      '-X',
      'POST',
      '-d',
      `{"data": {"email":"john@email.com","amount":123,"m":"${marker}"}}`,
      `${pub().url}/data/`,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({
      data: { email: 'john@email.com', amount: 123, m: marker },
    });
    expect(await rowsContaining(marker)).toBe(1);
  });
});
