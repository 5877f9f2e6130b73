-- The gateway inserted annotations with a table-wide INSERT: it could choose an annotation's id,
-- when it was written, or its updated_at. Now it may insert only what a new annotation is given:
-- its datum, its body and its author; id and timestamps always come from the column defaults,
-- as on the publisher side (003_roles.sql). Revoking the table privilege first matters: a
-- table-wide INSERT would cover every column whatever the column grants say.
REVOKE INSERT ON annotation FROM collector_gateway;
GRANT INSERT (data_id, body, author) ON annotation TO collector_gateway;
