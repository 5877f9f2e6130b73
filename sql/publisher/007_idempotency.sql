-- Idempotency-Key of POST /data: a client whose request timed out retries with the same key and
-- gets the row its first attempt stored, instead of storing a second one.
--
-- Keys belong to this publisher alone. The table is not in the publication (collector_pub is
-- FOR TABLE data only), so keys never replicate: the same key on two publishers is two keys.
CREATE TABLE idempotency_key (
  -- 1 to 255 visible ASCII characters, as the API checks (the same limit as Stripe's keys).
  key text PRIMARY KEY CHECK (key ~ '^[\x21-\x7e]{1,255}$'),
  -- SHA-256 of the request body's text: a key reused with another body is refused (409).
  request_hash bytea NOT NULL CHECK (octet_length(request_hash) = 32),
  -- The row the key stored. No foreign key: data rows are never deleted (insert-only), and a
  -- reference would change how TRUNCATE data fails, which must stay the insert-only trigger.
  data_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The API's periodic sweep deletes keys older than the configured lifetime.
CREATE INDEX idempotency_key_created_at_idx ON idempotency_key (created_at);

REVOKE ALL ON idempotency_key FROM PUBLIC;

-- The REST API remembers a key with the row it stored (created_at comes from the default), reads
-- keys back, and deletes expired ones. It never updates one: a stale key is deleted, then taken
-- anew, in the transaction that stores the new row. The data table stays insert-only.
GRANT SELECT (key, request_hash, data_id, created_at) ON idempotency_key TO collector_publisher_api;
GRANT INSERT (key, request_hash, data_id) ON idempotency_key TO collector_publisher_api;
GRANT DELETE ON idempotency_key TO collector_publisher_api;
