-- A row the subscriber already holds, arriving again identical, is skipped instead of failing on
-- the primary key. That happens when a subscription is created again for a publisher whose rows
-- are here already: `collector publishers resync` after a lost slot, or `publishers add` of a
-- publisher that was removed with its rows kept. Its initial copy (copy_data) sends every row of
-- the publisher's table; the ones stored here are skipped, the missing ones are inserted, and
-- nothing is deleted first (annotations reference data ids, and would lose their datum).
--
-- Only a row equal in every column the publisher sends is skipped. received_at and servable are
-- the subscriber's own (a default and a generated column, NULL in a BEFORE trigger). A different
-- row with a known id (the same UUID from two publishers) still fails: a real conflict must stop
-- the subscription, visibly (`collector publishers status`: stopped by error).
--
-- A row-level BEFORE trigger also runs for the rows of the initial COPY, and in the apply worker
-- before its insert_exists check: returning NULL skips the row there.
CREATE FUNCTION collector_skip_replayed_row() RETURNS trigger
LANGUAGE plpgsql
-- The apply and table sync workers run with an empty search_path: pin the one of this migration.
SET search_path FROM CURRENT
AS $$
DECLARE
  stored jsonb;
BEGIN
  SELECT to_jsonb(d) INTO stored FROM data AS d WHERE d.id = NEW.id;
  IF NOT FOUND THEN
    RETURN NEW;
  END IF;
  IF stored - ARRAY['received_at', 'servable'] = to_jsonb(NEW) - ARRAY['received_at', 'servable'] THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER data_skip_replayed_row
  BEFORE INSERT ON data
  FOR EACH ROW EXECUTE FUNCTION collector_skip_replayed_row();

-- Disabled, except while a subscription's initial copy runs: `publishers add` and `resync` turn it
-- on (ENABLE REPLICA: only in the logical replication workers, which run with
-- session_replication_role = replica; a local insert fails on a known id as ever) before creating
-- the subscription, and off once no subscription is copying (collector/setup.ts,
-- skipReplayedRows). Left on, every replicated row would pay a PL/pgSQL call and a primary-key
-- lookup: measured at about 90 µs per row, doubling the cost of an insert on the apply side.
ALTER TABLE data DISABLE TRIGGER data_skip_replayed_row;
