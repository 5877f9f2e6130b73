-- Only inserts are published: there is nothing else to replicate, and a subscriber should never
-- receive an UPDATE, DELETE or TRUNCATE for the aggregated table.
CREATE PUBLICATION collector_pub FOR TABLE data WITH (publish = 'insert');
