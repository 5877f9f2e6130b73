-- Rows received per publisher, counted by the gateway's fleet monitor without reading the whole
-- table on every refresh (collector/row-counts.ts). `SELECT publisher, count(*) FROM data GROUP BY
-- publisher` reads every row: about a second at 5 million rows on 2 cores, and past the monitor's
-- 8 s timeout at a few tens of millions, where every refresh would fail. The monitor counts the
-- whole table once, in slices of data_received_at_id_idx that each take well under a second, over
-- as many refreshes as it needs, then only the rows received since, by `received_at` (an index
-- range scan).
--
-- That needs a time before which no row can still appear: a row's received_at is its
-- transaction's start (DEFAULT now()), and it becomes visible when that transaction commits, which
-- may be much later (a large initial copy, a long apply). collector_monitor_rows_settled_before()
-- answers the start of the oldest transaction still open in this database (or now(), if none):
-- every row stamped before it has been committed or rolled back, so it is counted once and never
-- again. Two exceptions, from PostgreSQL's source (18):
-- - a table synchronisation worker (the initial copy of a publisher's rows) never refreshes its
--   statement time: its copy transaction, and so the rows it copies, are stamped with the time
--   the worker started, and it connects to the publisher outside any transaction. While one runs,
--   the answer is no later than its backend_start;
-- - autovacuum workers and walsenders are left out: they never insert rows here, and their
--   transactions can start with an old time (a walsender decodes in transactions stamped with
--   its START_REPLICATION).
-- It answers NULL (not known) while a prepared transaction exists here (two-phase commit: open,
-- but no backend shows it; read after the backends, as PREPARE makes it visible there before its
-- backend lets it go), or while a backend of this database has track_activities off (its
-- transaction start is not shown). The monitor then counts from its last time again.
--
-- It runs as its owner, the superuser that applies migrations, because pg_stat_activity shows
-- another role's transaction start only to that role and to pg_read_all_stats: the monitor would
-- see NULL for the apply workers, which run as the subscriptions' owner. It answers one
-- timestamp, and nothing about whose transaction it is or what it runs.
CREATE FUNCTION collector_monitor_rows_settled_before()
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  oldest timestamptz;
  hidden boolean;
BEGIN
  SELECT min(least(a.xact_start,
                   CASE WHEN a.backend_type = 'logical replication tablesync worker'
                        THEN a.backend_start END)),
         coalesce(bool_or(a.state = 'disabled'), false)
    INTO oldest, hidden
    FROM pg_stat_activity a
   WHERE a.datname = current_database()
     AND a.backend_type NOT IN ('autovacuum worker', 'autovacuum launcher', 'walsender');
  IF hidden OR EXISTS (SELECT FROM pg_prepared_xacts x WHERE x.database = current_database()) THEN
    RETURN NULL;
  END IF;
  RETURN least(statement_timestamp(), oldest);
END;
$$;

REVOKE EXECUTE ON FUNCTION collector_monitor_rows_settled_before() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION collector_monitor_rows_settled_before() TO collector_monitor;
-- To count the rows received since the last count, and the whole table in slices of the
-- (received_at, id) index.
GRANT SELECT (received_at, id) ON data TO collector_monitor;
