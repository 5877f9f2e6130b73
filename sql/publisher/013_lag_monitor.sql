-- collector_lag: the login the gateway's fleet monitor uses on a publisher to read its
-- subscription's slot and lag (collector/fleet.ts, askPublisher), and nothing else. Setup gives it
-- a password and LOGIN when one is configured (COLLECTOR_LAG_PASSWORD; `npm start` generates
-- one); without, it stays NOLOGIN.
--
-- pg_replication_slots and pg_current_wal_lsn() are readable by any role that may connect, but
-- the lag in seconds (pg_stat_replication.replay_lag) is only shown to pg_read_all_stats, which
-- would also show every session's query text. Instead, one SECURITY DEFINER function answers for
-- the fleet's slots (collector_*), and collector_lag may only connect and call it: it cannot read
-- the data table, nor insert, nor see other sessions.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'collector_lag') THEN
    CREATE ROLE collector_lag NOLOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO collector_lag', current_database());
END
$$;

CREATE FUNCTION collector_slot_lag(slot name)
RETURNS TABLE (active boolean, wal_status text, lag_bytes numeric, lag_seconds float8)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT s.active, s.wal_status,
         pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn),
         (SELECT extract(epoch FROM coalesce(r.replay_lag, interval '0'))::float8
            FROM pg_stat_replication r
           WHERE r.application_name = s.slot_name AND r.state IS NOT NULL
           LIMIT 1)
    FROM pg_replication_slots s
   WHERE s.slot_name = slot AND s.slot_name LIKE 'collector\_%'
$$;

REVOKE ALL ON FUNCTION collector_slot_lag(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION collector_slot_lag(name) TO collector_lag;
