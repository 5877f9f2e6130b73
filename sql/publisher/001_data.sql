-- The one table a publisher writes. Ids are generated here, never by clients: the same id arriving
-- from two publishers is an insert_exists conflict that stops that subscription on the subscriber.
CREATE TABLE data (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- No default here: setup sets the default to this publisher's configured name
  -- (ALTER TABLE data ALTER COLUMN publisher SET DEFAULT ...), so rows are stamped by the database
  -- and a publisher that was never set up refuses inserts instead of writing unnamed rows.
  publisher text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Newest-first keyset pages: ORDER BY created_at DESC, id DESC scans this index backwards.
CREATE INDEX data_created_at_id_idx ON data (created_at, id);
