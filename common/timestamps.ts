/**
 * Timestamps as the gateway holds them. It reads `timestamptz` columns as PostgreSQL's own text in
 * a session whose TimeZone is UTC (`2026-11-26 16:18:33.098123+00`; common/db.ts, timestampText),
 * unparsed, and its DateTime scalar writes each one a query serves as the ISO 8601 text a Date
 * would write (subscriber-graphql/schema/datetime.scalar.ts). Parsing every timestamp of every row
 * into a Date only to write it back out cost about 3% of its CPU on a page of 100 rows, and most
 * queries never select receivedAt or updatedAt at all.
 */

/** ISO 8601 in UTC to the millisecond, as Date.prototype.toISOString writes (years 0 to 9999). */
export const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A timestamp on the gateway: PostgreSQL's UTC text, ISO text, or a Date. */
export type Timestamp = string | Date;
