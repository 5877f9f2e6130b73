import type { ColumnType, Generated, Kysely } from 'kysely';
import pg from 'pg';

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

/**
 * Connections held for the group commit's INSERT (publisher-api/group-commit.ts), beside the
 * Kysely pool. POST /data is the hot path: through Kysely and the pool, one statement cost about
 * 0.1 ms more of this process's CPU than on a connection of its own (the query's compilation,
 * Kysely's executor, and the pool's checkout and release, about a third each, measured on the
 * 2-core CI machine). A lone client pays that on every request.
 *
 * Each statement runs as a named prepared statement on the least busy of up to `size`
 * connections, opened when first needed. A connection that fails (database restarted, network
 * cut) is dropped, and the next statement opens a new one; its own statement fails with the
 * connection error (503), like the pool's.
 */
export class InsertConnections {
  private readonly slots: Array<{ client: pg.Client; ready: Promise<unknown>; busy: number }> = [];
  private closed = false;

  constructor(
    private readonly connectionString: string,
    private readonly opts: {
      applicationName: string;
      /** As the pool's (common/db.ts): server-side limit on one statement, ms; 0 for none. */
      statementTimeoutMs?: number;
      /** Most connections: one per statement in flight. */
      size: number;
    },
  ) {}

  /** Runs `text` (always the same few texts) with `values` as a prepared statement. */
  async query<R extends object>(name: string, text: string, values: unknown[]): Promise<R[]> {
    if (this.closed) throw new Error('InsertConnections: closed');
    const slot = this.pick();
    slot.busy++;
    try {
      await slot.ready;
      return (await slot.client.query<R>({ name, text, values })).rows;
    } finally {
      slot.busy--;
    }
  }

  /** Closes every connection; statements still running finish first. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.client.end().catch(() => {})));
  }

  private pick() {
    let best = this.slots[0];
    for (const s of this.slots) if (s.busy < (best?.busy ?? 0)) best = s;
    if (best && (best.busy === 0 || this.slots.length >= this.opts.size)) return best;
    return this.open();
  }

  private open() {
    const settings = [];
    if (this.opts.statementTimeoutMs !== undefined) {
      settings.push(`-c statement_timeout=${this.opts.statementTimeoutMs}`);
    }
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: this.opts.applicationName,
      options: settings.join(' ') || undefined,
      // As the pool: fail a request quickly with a clear 503 when the database is down.
      connectionTimeoutMillis: 5000,
    });
    const slot = { client, ready: client.connect(), busy: 0 };
    const drop = () => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    };
    // A broken connection emits 'error' (without a listener Node would crash the process) and
    // 'end'; its statement in flight rejects on its own.
    client.on('error', drop);
    client.on('end', drop);
    slot.ready.catch(() => {
      drop();
      client.end().catch(() => {});
    });
    this.slots.push(slot);
    return slot;
  }
}
