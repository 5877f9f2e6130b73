-- collector_monitor: what the gateway's `publishers` query and /metrics need to tell each
-- publisher's state (collector/fleet.ts), and nothing more. Without it, that status needs a
-- superuser: it reads pg_subscription.subconninfo and the server log (pg_read_file).
--
-- The gateway logs in as collector_gateway and may SET ROLE collector_monitor, but does not
-- inherit its privileges (INHERIT FALSE): its ordinary sessions (every GraphQL request) cannot call
-- these functions, only the small separate pool of its fleet monitor, which opens its sessions
-- with `role=collector_monitor` (subscriber-graphql/services/fleet-monitor.ts).
--
-- What collector_monitor may do:
-- - collector_monitor_subscriptions(): this database's subscriptions, their conninfo without its
--   password: the replication password is as good as a publisher's superuser password (a logical
--   walsender accepts BASE_BACKUP; README, Security), so it never reaches the gateway. The gateway
--   asks the publishers for slots and lag with logins of their own (COLLECTOR_PUBLISHER_MONITOR_URLS);
-- - collector_monitor_log(bytes): the tail of the server log, only the lines of logical
--   replication workers and their messages about a subscription, without STATEMENT lines or
--   clients' errors (client SQL text);
-- - SELECT on pg_replication_origin_status (how far each subscription has applied), and on
--   data.publisher alone (rows received per publisher).
-- The functions run as their owner (the superuser that applies migrations), with a fixed
-- search_path, and PUBLIC's default EXECUTE is revoked.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'collector_monitor') THEN
    CREATE ROLE collector_monitor NOLOGIN;
  END IF;
END
$$;

GRANT collector_monitor TO collector_gateway WITH INHERIT FALSE, SET TRUE;

-- The view calls a function that is revoked from PUBLIC too.
GRANT SELECT ON pg_catalog.pg_replication_origin_status TO collector_monitor;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_show_replication_origin_status() TO collector_monitor;
GRANT SELECT (publisher) ON data TO collector_monitor;

CREATE FUNCTION collector_monitor_subscriptions()
RETURNS TABLE (
  oid oid,
  subdbid oid,
  subname name,
  subenabled boolean,
  subconninfo text,
  subslotname name,
  subdisableonerr boolean,
  subskiplsn pg_lsn
)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT s.oid, s.subdbid, s.subname, s.subenabled,
         regexp_replace(
           regexp_replace(s.subconninfo,
                          '\s*\m(password|sslpassword)\s*=\s*(''(?:[^''\\]|\\.)*''|\S+)', '', 'g'),
           '^(postgres(?:ql)?://[^:/@]*):[^@]*@', '\1@'),
         s.subslotname,
         s.subdisableonerr, s.subskiplsn
    FROM pg_subscription s
   WHERE s.subdbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
$$;

-- The log's default line prefix is '%m [%p] ' (time, pid), as collector/fleet.ts parses it. An
-- entry is a prefixed line and its unprefixed continuation lines. Kept: every entry of a process
-- that logged a worker start or whose CONTEXT names a replication origin (pg_<oid>: an apply
-- worker), and the workers' own messages about their subscription (which a worker whose start has
-- left the tail still writes); never STATEMENT, never a client's error that merely quotes a
-- subscription's name (its text may hold the client's SQL).
CREATE FUNCTION collector_monitor_log(max_bytes integer)
RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  WITH file AS (
    SELECT coalesce(pg_current_logfile(), 'postgresql.log') AS name
  ), tail AS (
    SELECT pg_read_file(f.name, greatest(0, (pg_stat_file(f.name)).size - max_bytes),
                        least(greatest(max_bytes, 0), 16 * 1024 * 1024)) AS text
      FROM file f
  ), lines AS (
    SELECT l.line, l.n,
           substring(l.line FROM '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: \S+)? \[(\d+)\] [A-Z0-9]+:') AS pid,
           substring(l.line FROM '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: \S+)? \[\d+\] ([A-Z0-9]+):') AS level
      FROM tail t, regexp_split_to_table(t.text, E'\n') WITH ORDINALITY AS l(line, n)
  ), grouped AS (
    SELECT line, n, pid, level, count(pid) OVER (ORDER BY n) AS entry FROM lines
  ), entries AS (
    SELECT entry, min(n) AS n, max(pid) AS pid, max(level) AS level,
           string_agg(line, E'\n' ORDER BY n) AS text
      FROM grouped WHERE entry > 0 GROUP BY entry
  ), workers AS (
    SELECT DISTINCT pid FROM entries
     WHERE (level = 'LOG' AND text ~ 'logical replication (apply|table synchronization|parallel apply) worker for subscription ".*has started')
        OR (level = 'CONTEXT' AND text ~ 'replication origin "pg_\d+"')
  )
  SELECT coalesce(string_agg(e.text, E'\n' ORDER BY e.n), '')
    FROM entries e
   WHERE e.level IS DISTINCT FROM 'STATEMENT'
     AND (e.pid IN (SELECT pid FROM workers)
          OR (e.level IN ('LOG', 'ERROR', 'FATAL', 'WARNING')
              AND e.text ~ '\] [A-Z]+:  ((logical replication )?(apply|table synchronization|parallel apply) worker for subscription "|subscription "[^"]*" has been disabled because of an error)'))
$$;

REVOKE ALL ON FUNCTION collector_monitor_subscriptions() FROM PUBLIC;
REVOKE ALL ON FUNCTION collector_monitor_log(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION collector_monitor_subscriptions() TO collector_monitor;
GRANT EXECUTE ON FUNCTION collector_monitor_log(integer) TO collector_monitor;
