-- Subscriptions are created with disable_on_error = true (collector/setup.ts), so that a conflict
-- stops one cleanly and visibly instead of failing again every few seconds. On PostgreSQL 18 it
-- also disables a subscription whose stream breaks (the publisher restarted, the network failed:
-- "could not receive data from WAL stream"), which is no fault of the data. The gateway's fleet
-- monitor tells the two apart from the log (collector/fleet.ts) and re-enables only a subscription
-- stopped by a broken stream; while the publisher is still down, the re-enabled worker then fails
-- to connect, which does not disable it, and PostgreSQL retries the connection by itself.
--
-- collector_monitor_reenable(subscription): ALTER SUBSCRIPTION … ENABLE, and nothing else, for a
-- disabled subscription of the fleet (collector_*, in this database, with disable_on_error). It
-- runs as its owner, the superuser that applies migrations; the monitor cannot disable, alter or
-- drop anything, nor touch a subscription that is not the fleet's.
CREATE FUNCTION collector_monitor_reenable(subscription name)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (
    SELECT FROM pg_subscription s
     WHERE s.subname = subscription
       AND s.subname LIKE 'collector\_%'
       AND s.subdbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
       AND NOT s.subenabled
       AND s.subdisableonerr
  ) THEN
    RETURN false;
  END IF;
  EXECUTE format('ALTER SUBSCRIPTION %I ENABLE', subscription);
  RETURN true;
END
$$;

REVOKE ALL ON FUNCTION collector_monitor_reenable(name) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION collector_monitor_reenable(name) TO collector_monitor;
