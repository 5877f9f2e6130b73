-- Rows received per publisher, counted by the gateway's fleet monitor without reading the whole
-- table on every refresh (collector/row-counts.ts). `SELECT publisher, count(*) FROM data GROUP BY
-- publisher` reads every row: about a second at 5 million rows on 2 cores, and past the monitor's
-- 8 s timeout somewhere after 30 million, where every refresh would fail. The monitor counts the
-- whole table once, then only the rows received since the last count, by `received_at` (an index
-- range scan on data_received_at_id_idx).
--
-- That needs a time before which no row can still appear: a row's received_at is its
-- transaction's start (DEFAULT now()), and it becomes visible when that transaction commits, which
-- may be much later (a large initial copy, a long apply). collector_monitor_rows_settled_before()
-- answers the start of the oldest transaction still open in this database (or now(), if none):
-- every row stamped before it has been committed or rolled back, so it is counted once and never
-- again. It answers NULL while a prepared transaction exists here (two-phase commit: it is open,
-- but no backend shows it), and the monitor then waits before moving on.
--
-- It runs as its owner, the superuser that applies migrations, because pg_stat_activity shows
-- another role's transaction start only to that role and to pg_read_all_stats: the monitor would
-- see NULL for the apply workers, which run as the subscriptions' owner. It answers one
-- timestamp, and nothing about whose transaction it is or what it runs.
CREATE FUNCTION collector_monitor_rows_settled_before()
RETURNS timestamptz
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE
    WHEN EXISTS (SELECT FROM pg_prepared_xacts x WHERE x.database = current_database()) THEN NULL
    ELSE least(statement_timestamp(),
               (SELECT min(a.xact_start) FROM pg_stat_activity a
                 WHERE a.datname = current_database() AND a.xact_start IS NOT NULL))
  END
$$;

REVOKE EXECUTE ON FUNCTION collector_monitor_rows_settled_before() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION collector_monitor_rows_settled_before() TO collector_monitor;
-- To count the rows received since the last count.
GRANT SELECT (received_at) ON data TO collector_monitor;
