import type { ColumnType, Generated, Kysely } from 'kysely';

export interface PublisherDataTable {
  id: Generated<string>;
  /** Filled by the database default set at setup; the API's role cannot insert it. */
  publisher: ColumnType<string, never, never>;
  data: ColumnType<unknown, string, never>;
  created_at: ColumnType<Date, never, never>;
}

export interface PublisherDB {
  data: PublisherDataTable;
}

export type PublisherDb = Kysely<PublisherDB>;
