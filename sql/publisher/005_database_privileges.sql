-- By default PUBLIC may connect to every database and create temporary tables in it. Here only
-- the collector's roles (and superusers) may connect, and nobody but superusers creates anything.
DO $$
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  -- The replicator needs CONNECT too: a logical walsender connects to this database.
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO collector_publisher_api, collector_replicator',
                 current_database());
END
$$;
