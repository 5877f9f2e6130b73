-- Least-privilege roles. They are created without LOGIN; setup gives each a password and LOGIN
-- (passwords are deployment secrets and never live in these files).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'collector_publisher_api') THEN
    CREATE ROLE collector_publisher_api NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'collector_replicator') THEN
    CREATE ROLE collector_replicator NOLOGIN REPLICATION;
  END IF;
END
$$;

REVOKE ALL ON data FROM PUBLIC;

-- The REST API may insert only the "data" column: id, publisher and created_at always come from
-- the database's defaults, so no client can choose a primary key or claim another publisher's name.
GRANT SELECT ON data TO collector_publisher_api;
GRANT INSERT (data) ON data TO collector_publisher_api;

-- What a subscriber needs from a publisher: REPLICATION plus SELECT on the published table.
GRANT SELECT ON data TO collector_replicator;
