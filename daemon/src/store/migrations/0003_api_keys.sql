-- API keys: one per AI client. Only a hash of the secret is stored.
CREATE TABLE api_keys (
    id              TEXT    PRIMARY KEY,   -- the public id inside the token (cmsd_<id>_<secret>)
    name            TEXT    NOT NULL,      -- the client it belongs to: gemini-cli, claude-code, ...
    secret_hash     TEXT    NOT NULL,      -- SHA-256 (hex) of the secret part
    grants          TEXT    NOT NULL,      -- comma-separated: read,draft,stage,send,admin
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    last_used_at_ms INTEGER,
    revoked_at_ms   INTEGER
) STRICT;

CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at_ms IS NULL;

-- The first response to each Idempotency-Key, per API key, replayed on a repeat.
CREATE TABLE idempotency_keys (
    key_id        TEXT    NOT NULL,
    idem_key      TEXT    NOT NULL,
    fingerprint   TEXT    NOT NULL,        -- method, path and body hash of the first request
    status        INTEGER NOT NULL,
    body          BLOB    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (key_id, idem_key)
) STRICT;
