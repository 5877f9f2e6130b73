-- Deadlines for the gateway's sessions, even for a client that sets none (psql as the role): a
-- query stuck behind a lock, or a transaction left open, must not hold a connection forever.
-- The gateway sets its own value at connect time (COLLECTOR_STATEMENT_TIMEOUT), which wins.
ALTER ROLE collector_gateway SET statement_timeout = '30s';
ALTER ROLE collector_gateway SET idle_in_transaction_session_timeout = '60s';
