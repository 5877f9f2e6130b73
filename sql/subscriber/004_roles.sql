-- The GraphQL gateway's role: read the aggregated data, read users to log them in, add annotations.
-- It cannot write data (only replication does), nor create users (the CLI does, as an admin).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'collector_gateway') THEN
    CREATE ROLE collector_gateway NOLOGIN;
  END IF;
END
$$;

REVOKE ALL ON data, app_user, annotation FROM PUBLIC;

GRANT SELECT ON data TO collector_gateway;
GRANT SELECT ON app_user TO collector_gateway;
GRANT SELECT, INSERT ON annotation TO collector_gateway;
