-- Deadlines for the REST API's sessions, even for a client that sets none (psql as the role): a
-- statement stuck behind a lock, or a transaction left open, must not hold a connection forever.
-- The API sets its own value at connect time (COLLECTOR_STATEMENT_TIMEOUT), which wins over these.
-- Not for collector_replicator: the initial copy of a new subscription is one long COPY.
ALTER ROLE collector_publisher_api SET statement_timeout = '30s';
ALTER ROLE collector_publisher_api SET idle_in_transaction_session_timeout = '60s';
