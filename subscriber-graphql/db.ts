import type { ColumnType, Generated, Kysely } from 'kysely';
import type { Timestamp } from '../common/timestamps.js';

/** What a gateway user may do: an admin may also change and delete others' annotations. */
export type Role = 'admin' | 'user';

/** JSON read back from jsonb, written as JSON text. */
export type Json = ColumnType<unknown, string, string>;

export interface DataTable {
  id: string;
  publisher: string;
  data: Json;
  /** Timestamps: ISO text on the gateway's pool (common/timestamps.ts), Dates elsewhere. */
  created_at: Timestamp;
  received_at: Generated<Timestamp>;
}

export interface AnnotationTable {
  id: Generated<string>;
  data_id: string;
  body: Json;
  /** The author's username when written, kept in step by a trigger (never inserted directly). */
  author: ColumnType<string, never, never>;
  /** Who wrote it; NULL once that user is deleted (`author` then reads "deleted user"). */
  author_id: string | null;
  created_at: Generated<Timestamp>;
  updated_at: Generated<Timestamp>;
}

export interface AppUserTable {
  id: Generated<string>;
  username: string;
  password_hash: string;
  role: ColumnType<Role, Role | undefined, Role>;
  /** Raised to end every token issued before (password change, disable, logout). */
  session_version: Generated<number>;
  disabled: Generated<boolean>;
  created_at: Generated<Date>;
}

export interface SubscriberDB {
  data: DataTable;
  annotation: AnnotationTable;
  app_user: AppUserTable;
}

export type SubscriberDb = Kysely<SubscriberDB>;
