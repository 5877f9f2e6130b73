import type { ColumnType, Generated, Kysely } from 'kysely';

export interface PublisherDataTable {
  id: Generated<string>;
  /** Filled by the database default set at setup; the API's role cannot insert it. */
  publisher: ColumnType<string, never, never>;
  data: ColumnType<unknown, string, never>;
  created_at: ColumnType<Date, never, never>;
}

/** Idempotency-Keys of POST /data (sql/publisher/007_idempotency.sql); never replicated. */
export interface IdempotencyKeyTable {
  key: ColumnType<string, string, never>;
  request_hash: ColumnType<Buffer, Buffer, never>;
  data_id: ColumnType<string, string, never>;
  /** The database's default; the API's role cannot insert it. */
  created_at: ColumnType<Date, never, never>;
}

/**
 * API keys (sql/publisher/010_api_keys.sql); never replicated. The API's role may only read
 * key_hash, scopes and revoked_at; the CLI writes the table over an admin connection.
 */
export interface ApiKeyTable {
  id: Generated<string>;
  name: string;
  key_hash: Buffer;
  scopes: string[];
  created_at: Generated<Date>;
  revoked_at: Date | null;
}

export interface PublisherDB {
  data: PublisherDataTable;
  idempotency_key: IdempotencyKeyTable;
  api_key: ApiKeyTable;
}

export type PublisherDb = Kysely<PublisherDB>;
