-- data_publisher_idx (publisher), from 001_data.sql, is a prefix of data_publisher_id_idx
-- (publisher, id), from 011_order_indexes.sql: every query it served, the wider index serves as
-- well. It only cost: one more B-tree insertion for every row the replication apply worker writes
-- (about a fifth of the apply worker's B-tree time, with five of them; perf during
-- `npm run bench:ingest`).
DROP INDEX data_publisher_idx;
