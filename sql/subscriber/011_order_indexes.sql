-- Keyset pages of data(orderBy:) walk these indexes: each order's keys, then the id that makes
-- the order total (row comparisons like (received_at, id) < ($1, $2) use them directly).
CREATE INDEX data_received_at_id_idx ON data (received_at, id);
CREATE INDEX data_publisher_id_idx ON data (publisher, id);
