/**
 * Changes to the fleet from the subscriber's side: removing a publisher, and recreating the
 * subscription of one whose slot was lost. Adding one is `addPublisher` in setup.ts (npm start
 * and `collector setup` add through it too); what the fleet looks like is fleet.ts.
 */
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { migrate } from '../common/migrate.js';
import type { SubscriberDB } from '../subscriber-graphql/db.js';
import {
  FleetError,
  fleetStatus,
  listSubscriptions,
  SUBSCRIPTION_PREFIX,
  type SubscriptionInfo,
} from './fleet.js';
import {
  PUBLICATION,
  SUBSCRIPTION_OPTIONS,
  skipReplayedRows,
  waitForInitialCopy,
} from './setup.js';

type Db = Kysely<SubscriberDB>;

async function findSubscription(db: Db, name: string): Promise<SubscriptionInfo> {
  const subs = await listSubscriptions(db);
  const sub = subs.find((s) => s.name === name);
  if (!sub) {
    throw new FleetError(
      `no publisher "${name}": the publishers are ${subs.map((s) => s.name).join(', ') || '(none)'}`,
    );
  }
  return sub;
}

const unreachable = (message: string) =>
  /could not connect to (the )?publisher|connection to server|could not translate host|timeout expired|Connection refused/i.test(
    message,
  );
const slotMissing = (message: string) =>
  /replication slot .* does not exist/i.test(message) && !unreachable(message);

/** Stops the subscription's workers, and waits until they are gone (up to `timeoutMs`). */
async function disable(db: Db, sub: SubscriptionInfo, timeoutMs = 30_000): Promise<void> {
  await sql`ALTER SUBSCRIPTION ${sql.id(sub.subscription)} DISABLE`.execute(db);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM pg_stat_subscription
       WHERE subname = ${sub.subscription} AND pid IS NOT NULL`.execute(db);
    if ((rows[0]?.n ?? 0) === 0 || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** DROP SUBSCRIPTION without touching the publisher: its slot is left there (or is gone). */
async function dropWithoutSlot(db: Db, sub: SubscriptionInfo): Promise<void> {
  const ident = sql.id(sub.subscription);
  await disable(db, sub);
  // With slot_name = NONE, DROP SUBSCRIPTION does not connect to the publisher at all.
  await sql`ALTER SUBSCRIPTION ${ident} SET (slot_name = NONE)`.execute(db);
  await sql`DROP SUBSCRIPTION ${ident}`.execute(db);
}

export const dropSlotByHand = (slot: string) => `SELECT pg_drop_replication_slot('${slot}');`;

export interface RemoveResult {
  subscription: string;
  /** dropped: by DROP SUBSCRIPTION on the publisher; missing: it was gone; left: unreachable. */
  slot: 'dropped' | 'missing' | 'left';
  slotName: string;
  rowsKept: number;
  rowsDeleted: number;
  annotationsDeleted: number;
}

/**
 * Drops a publisher's subscription and, over the subscription's own connection, its slot on the
 * publisher. The rows it sent stay on the subscriber unless `dropData` (then its rows go, and the
 * annotations on them, which reference them). The publisher itself keeps its schema and rows.
 */
export async function removePublisher(
  db: Db,
  name: string,
  opts: { dropData: boolean; forgetSlot: boolean },
): Promise<RemoveResult> {
  const sub = await findSubscription(db, name);
  const slotName = sub.slotName ?? sub.subscription;
  let slot: RemoveResult['slot'] = 'dropped';
  try {
    // DROP SUBSCRIPTION stops its workers, then drops the slot on the publisher (waiting for the
    // walsender to let go of it). It cannot run inside a transaction block.
    await sql`DROP SUBSCRIPTION ${sql.id(sub.subscription)}`.execute(db);
  } catch (e) {
    const message = (e as Error).message;
    if (slotMissing(message)) {
      await dropWithoutSlot(db, sub);
      slot = 'missing';
    } else if (unreachable(message) && opts.forgetSlot) {
      await dropWithoutSlot(db, sub);
      slot = 'left';
    } else if (unreachable(message)) {
      throw new FleetError(
        `cannot reach publisher ${name} to drop its replication slot ${slotName}: ${message.split('\n')[0]}\n` +
          `Nothing was changed. Run again once it is reachable, or remove it now and drop the slot by hand later:\n` +
          `  collector publishers remove ${name} --forget-slot\n` +
          `  then, on the publisher: ${dropSlotByHand(slotName)}\n` +
          '(until it is dropped, that slot keeps WAL on the publisher, up to its max_slot_wal_keep_size)',
      );
    } else {
      throw e;
    }
  }
  const result: RemoveResult = {
    subscription: sub.subscription,
    slot,
    slotName,
    rowsKept: 0,
    rowsDeleted: 0,
    annotationsDeleted: 0,
  };
  if (opts.dropData) {
    await db.transaction().execute(async (trx) => {
      // Annotations reference data ids (a foreign key): the ones on these rows go first.
      const notes = await sql`
        DELETE FROM annotation
         WHERE data_id IN (SELECT id FROM data WHERE publisher = ${name})`.execute(trx);
      const rows = await sql`DELETE FROM data WHERE publisher = ${name}`.execute(trx);
      result.annotationsDeleted = Number(notes.numAffectedRows ?? 0);
      result.rowsDeleted = Number(rows.numAffectedRows ?? 0);
    });
  } else {
    const { rows } = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM data WHERE publisher = ${name}`.execute(db);
    result.rowsKept = Number(rows[0]?.n ?? 0);
  }
  return result;
}

export interface ResyncResult {
  subscription: string;
  previousState: string;
  rowsBefore: number;
  rowsAfter: number;
}

/**
 * Recovers a publisher whose slot was lost (invalidated, wal_status = lost, or dropped): the
 * changes it no longer holds can never be streamed, so the subscription is created again, with
 * a new slot and an initial copy of the publisher's whole table. The rows the subscriber already
 * has are skipped by the data_skip_replayed_row trigger (sql/subscriber/023); the missing ones are
 * inserted; nothing is deleted, so annotations keep their datum. From the new slot on, it streams.
 */
export async function resyncPublisher(
  db: Db,
  name: string,
  opts: {
    force: boolean;
    publisherUrls: Map<string, string>;
    progress?: (message: string) => void;
  },
): Promise<ResyncResult> {
  const say = opts.progress ?? (() => {});
  // The skipping trigger is a migration: make sure it is there before any row is copied.
  await migrate(db as unknown as Kysely<unknown>, 'subscriber');
  const sub = await findSubscription(db, name);
  const status = (await fleetStatus(db, opts.publisherUrls)).find((s) => s.name === name);
  const state = status?.state ?? 'unknown';
  if (state !== 'slot lost' && !opts.force) {
    throw new FleetError(
      `${name} is ${state}, not slot lost: resync is for a lost slot, and there is nothing to recover. ` +
        `(collector publishers status tells; --force resyncs anyway, which is safe but copies every row again.)`,
    );
  }
  say(`${name}: ${state}${status?.reason ? ` (${status.reason})` : ''}`);
  const { rows: raw } = await sql<{ subconninfo: string }>`
    SELECT subconninfo FROM pg_subscription WHERE oid = ${sub.oid}`.execute(db);
  const conninfo = raw[0]?.subconninfo;
  if (!conninfo) throw new FleetError(`subscription ${sub.subscription} vanished meanwhile`);
  const count = async () => {
    const { rows } = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM data WHERE publisher = ${name}`.execute(db);
    return Number(rows[0]?.n ?? 0);
  };
  const rowsBefore = await count();
  const ident = sql.id(sub.subscription);

  await disable(db, sub);
  try {
    // Drops the old slot on the publisher too (an invalidated slot can still be dropped).
    await sql`DROP SUBSCRIPTION ${ident}`.execute(db);
    say(`${name}: subscription ${sub.subscription} and its old slot dropped`);
  } catch (e) {
    const message = (e as Error).message;
    if (!slotMissing(message)) {
      if (sub.enabled) await sql`ALTER SUBSCRIPTION ${ident} ENABLE`.execute(db);
      throw new FleetError(
        `cannot resync ${name}: ${message.split('\n')[0]}. Nothing was changed; the publisher must be reachable (its rows are copied from it).`,
      );
    }
    await dropWithoutSlot(db, sub);
    say(`${name}: subscription ${sub.subscription} dropped (its slot was already gone)`);
  }
  await skipReplayedRows(db as unknown as Kysely<unknown>, true);
  try {
    // Alone, outside a transaction, like every CREATE SUBSCRIPTION. copy_data (the default) sends
    // the publisher's whole table first; the slot it creates keeps every change from then on.
    await sql
      .raw(
        `CREATE SUBSCRIPTION ${pg.escapeIdentifier(sub.subscription)} CONNECTION ${pg.escapeLiteral(conninfo)} PUBLICATION ${PUBLICATION} WITH (copy_data = true, ${SUBSCRIPTION_OPTIONS})`,
      )
      .execute(db);
  } catch (e) {
    throw new FleetError(
      `the old subscription of ${name} is dropped, but a new one could not be created: ${(e as Error).message.split('\n')[0]}. ` +
        `Fix that, then create it again with: collector publishers add ${name} --url <its admin URL> ` +
        `(its copy skips the rows already here, like resync's).`,
    );
  }
  say(`${name}: subscription ${sub.subscription} created again, with a new slot; copying…`);
  await waitForInitialCopy(db as unknown as Kysely<unknown>, name, say);
  await skipReplayedRows(db as unknown as Kysely<unknown>, false);
  const rowsAfter = await count();
  return { subscription: sub.subscription, previousState: state, rowsBefore, rowsAfter };
}

/**
 * After `resume`: a subscription whose initial copy had stopped (a conflict, fixed since) copies
 * again. If the replayed-row trigger is on (an `add` or `resync` turned it on, and stopped waiting
 * when the copy failed), waits for that copy and then turns the trigger off again, unless another
 * copy still runs: it costs every replicated row. Otherwise returns at once.
 */
export async function finishInitialCopy(
  db: Db,
  name: string,
  say: (message: string) => void,
): Promise<void> {
  const { rows } = await sql<{ pending: number; skipping: boolean | null }>`
    SELECT (SELECT count(*)::int FROM pg_subscription_rel r
              JOIN pg_subscription s ON s.oid = r.srsubid
             WHERE s.subname = ${SUBSCRIPTION_PREFIX + name} AND r.srsubstate <> 'r') AS pending,
           (SELECT tgenabled <> 'D' FROM pg_trigger
             WHERE tgname = 'data_skip_replayed_row' AND tgrelid = 'data'::regclass) AS skipping`.execute(
    db,
  );
  if (!rows[0]?.skipping) return;
  const unknownDb = db as unknown as Kysely<unknown>;
  if ((rows[0]?.pending ?? 0) > 0) await waitForInitialCopy(unknownDb, name, say);
  await skipReplayedRows(unknownDb, false);
}
