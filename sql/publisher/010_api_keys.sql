-- API keys of the publisher's REST API: one per client, sent as "Authorization: Bearer <key>".
--
-- Only a SHA-256 of each key is stored. Keys are 32 random bytes (256 bits) made by the CLI, not
-- passwords a person picks: nobody can guess one or run a dictionary against its hash, so a slow
-- hash (scrypt) would buy nothing but a slower hot path. Whoever reads this table learns no key.
--
-- Keys belong to this publisher alone. The table is not in the publication (collector_pub is FOR
-- TABLE data only), so keys never replicate: the subscriber never holds a publisher's keys. The
-- CLI (collector publisher-keys create) stores the same key's hash on each publisher it targets.
CREATE TABLE api_key (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Who the key is for, as the operator named it; shown by `publisher-keys list`.
  name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'),
  key_hash bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  -- insert: POST /data; read: GET /data and GET /data/{id}.
  scopes text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['insert', 'read']),
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set by `publisher-keys revoke`; a revoked key is refused (after the API's cache expires).
  revoked_at timestamptz
);

REVOKE ALL ON api_key FROM PUBLIC;

-- The REST API only checks keys: it reads a key's hash, scopes and revocation, and nothing else.
-- Keys are created and revoked by the CLI over an admin connection, never by the API.
GRANT SELECT (key_hash, scopes, revoked_at) ON api_key TO collector_publisher_api;
