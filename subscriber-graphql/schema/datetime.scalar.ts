/**
 * The `DateTime` scalar: graphql-scalars' GraphQLDateTime (same name, description and inputs),
 * with a fast path for output. The gateway reads timestamps from PostgreSQL as their text, unparsed
 * (common/db.ts, timestampText): each one a query serves is written here as the ISO text a Date
 * would write, without a Date in between, and a timestamp no query selects is never converted.
 */
import { GraphQLScalarType } from 'graphql';
import { GraphQLDateTime } from 'graphql-scalars';
import pg from 'pg';
import { ISO_UTC } from '../../common/timestamps.js';

// `2026-11-26 16:18:33.098123+00` (text output), or `2026-11-26T16:18:33.098123+00:00` (inside
// json_build_object), in a session whose TimeZone is UTC. Tested, not captured: no match array.
const PG_UTC = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?\+00(?::00)?$/;

/** Other values PostgreSQL writes (years past 9999, BC, infinity): read by pg's own parser. */
const PG_OTHER = /^(?:\d{4,}-\d\d-\d\d[ T]\d\d:\d\d:\d\d.*|-?infinity)$/;
const parsePostgres = pg.types.getTypeParser(1184, 'text') as (text: string) => Date | number;

const MS_PAD = ['000', '00', '0'];

/**
 * The ISO text of PostgreSQL's text for a UTC timestamp, truncated to milliseconds as a Date
 * would be, or undefined. It builds no match array: it runs for every timestamp a query serves.
 */
export function isoFromPostgres(text: string): string | undefined {
  if (!PG_UTC.test(text)) return undefined;
  // The zone (+00, or +00:00) ends the text; a fraction, if any, starts after the dot at 19.
  const end = text.length - (text.charCodeAt(text.length - 3) === 58 ? 6 : 3);
  const digits = end - 20;
  if (digits >= 3) return `${text.slice(0, 10)}T${text.slice(11, 23)}Z`;
  const fraction = digits > 0 ? text.slice(20, end) : '';
  return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction}${MS_PAD[fraction.length]}Z`;
}

export const DateTimeScalar = new GraphQLScalarType({
  ...GraphQLDateTime.toConfig(),
  serialize(value) {
    let v = value;
    if (typeof v === 'string') {
      const iso = isoFromPostgres(v);
      if (iso !== undefined) return iso;
      if (ISO_UTC.test(v)) return v;
      if (PG_OTHER.test(v)) v = parsePostgres(v.replace('T', ' '));
    }
    const date = GraphQLDateTime.serialize(v);
    return date instanceof Date ? date.toISOString() : date;
  },
});
