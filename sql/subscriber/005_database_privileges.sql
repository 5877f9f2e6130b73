-- By default PUBLIC may connect to every database and create temporary tables in it. Here only
-- the gateway's role (and superusers) may connect, and nobody but superusers creates anything.
DO $$
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO collector_gateway', current_database());
END
$$;
