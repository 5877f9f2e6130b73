-- The read guard of 006_json_text_guard.sql, computed once when a row is written (by the
-- replication apply worker, annotate, or an annotation update) instead of on every read. A page of
-- 100 rows spent about 1.2 ms of PostgreSQL CPU on collector_json_servable alone, on every request.
-- Adding the columns computes them for the rows already stored (a table rewrite: about 10 s per
-- million rows here).
ALTER TABLE data
  ADD COLUMN servable boolean GENERATED ALWAYS AS (collector_json_servable(data)) STORED;

ALTER TABLE annotation
  ADD COLUMN servable boolean GENERATED ALWAYS AS (collector_json_servable(body)) STORED;
