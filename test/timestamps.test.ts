/**
 * The gateway reads timestamps as PostgreSQL's text and its DateTime scalar serves them as ISO
 * text (common/timestamps.ts): the same text a Date would write, for every value PostgreSQL can
 * hold.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createKysely } from '../common/db.js';
import { DateTimeScalar, isoFromPostgres } from '../subscriber-graphql/schema/datetime.scalar.js';
import { collector } from './helpers.js';

const VALUES = [
  '2026-11-26 16:18:33.098123+00',
  '2026-11-26 16:18:33.0999999+00', // rounds to .100000 in PostgreSQL
  '2026-11-26 16:18:33+00',
  '2026-11-26 16:18:33.5+00',
  '1999-12-31 23:59:59.999999+00',
  '2024-02-29 12:00:00.000001-05:30', // another zone in, UTC out
  '0001-01-01 00:00:00+00',
  '9999-12-31 23:59:59.999+00',
  '10000-01-01 00:00:00+00', // past 9999: a Date
  '0044-03-15 12:00:00+00 BC', // BC: a Date
];

describe('timestamps as ISO text', () => {
  it('serves what Date.toISOString would write, read as text through a real pool', async () => {
    const iso = createKysely(collector().subscriberAdminUrl, {
      max: 1,
      applicationName: 'timestamps-test',
      timestampText: true,
    });
    const dates = createKysely(collector().subscriberAdminUrl, {
      max: 1,
      applicationName: 'timestamps-test',
    });
    try {
      for (const value of VALUES) {
        const q = sql<{ t: unknown }>`SELECT ${value}::timestamptz AS t`;
        const [a] = (await q.execute(iso)).rows;
        const [b] = (await q.execute(dates)).rows;
        const expected = (b as { t: Date }).t.toISOString();
        expect(DateTimeScalar.serialize(a?.t), value).toBe(expected);
        // Read as text, never a Date.
        expect(typeof a?.t, value).toBe('string');
      }
    } finally {
      await iso.destroy();
      await dates.destroy();
    }
  });

  it('reads the form json_build_object writes, and refuses other text', () => {
    expect(isoFromPostgres('2026-11-26T16:18:33.098123+00:00')).toBe('2026-11-26T16:18:33.098Z');
    expect(isoFromPostgres('2026-11-26T16:18:33+01:00')).toBeUndefined();
    expect(isoFromPostgres('infinity')).toBeUndefined();
    expect(DateTimeScalar.serialize(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
  });
});
