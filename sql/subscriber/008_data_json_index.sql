-- Serves the JSON filters of `data(filter:)`: containment (@>), key tests (?, ?|, ?&) and jsonpath
-- (@?, @@). jsonb_ops rather than the smaller jsonb_path_ops, because only jsonb_ops serves the
-- key tests too.
CREATE INDEX data_data_gin_idx ON data USING gin (data);
