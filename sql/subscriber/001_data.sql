-- The aggregated table, filled only by logical replication from every publisher. Same columns as a
-- publisher's data table (replication matches columns by name), plus received_at, which the apply
-- worker fills from its default for each replicated row.
CREATE TABLE data (
  id uuid PRIMARY KEY,
  publisher text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX data_created_at_id_idx ON data (created_at, id);
CREATE INDEX data_publisher_idx ON data (publisher);
