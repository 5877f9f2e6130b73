-- The stored `servable` columns (020_servable_columns.sql) call collector_json_servable, a
-- SQL-standard function that the planner inlines. A query plans it once; the replication apply
-- worker does not: it prepares a table's generated-column expressions again for every row it
-- applies, and each time reads the inlined body back from its stored node tree (pg_proc.prosqlbody,
-- compressed: stringToNode and pglz_decompress). Measured with perf on the apply worker during
-- `npm run bench:ingest` (PostgreSQL 18.4): about 45% of its CPU, some 70 µs per replicated row,
-- the whole apply costing about 0.16 ms per row, so it fell behind a publisher under load.
--
-- So the function the columns call becomes a PL/pgSQL wrapper, which the planner does not inline:
-- preparing the column's expression is then a function call, and PL/pgSQL plans the SQL body once
-- per session and keeps that plan. Same argument, same result: the stored values stay valid and
-- the tables are not rewritten. The rule itself moves to collector_json_servable_inline, unchanged
-- (test/ingest-numbers.test.ts checks it against the publisher's collector_json_servable).
-- The apply worker runs with an empty search_path, so the wrapper names the schema it was created
-- in, fixed here (a SET search_path clause would cost a setting change on every call).
CREATE FUNCTION collector_json_servable_inline(j jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN NOT (j @? 'strict $.** ? (@.type() == "number" && (@ >= 1e19 || @ <= -1e19 || (@ != 0 && @ < 1e-19 && @ > -1e-19) || (@ == 0 && @.string() starts with "0.00000000000000000000")))')
  OR collector_json_numbers_fit(j);

DO $migration$
BEGIN
  EXECUTE format(
    $f$CREATE OR REPLACE FUNCTION collector_json_servable(j jsonb) RETURNS boolean
       LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
       AS $body$ BEGIN RETURN %I.collector_json_servable_inline(j); END $body$$f$,
    current_schema());
END
$migration$;
